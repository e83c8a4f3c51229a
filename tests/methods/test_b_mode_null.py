"""The pure-B-mode null test, one test over every method.

Lensing makes no B modes. Shear rotated by 45° (:math:`\\gamma \\to i\\gamma`) is a pure B field: a
method fed it must return an E map no stronger than the E map of the noise alone (same noise draw, same
mask), while the control (the unrotated, pure-E shear) must raise the E map clearly. Every method runs
on the same field of the default survey grid (256² pixels of 0.41′; the shipped networks bin it to
their 0.82′ pixel, and are compared with their own noise-only map): a Gaussian field cut from a larger
box (no periodic shear) plus an NFW halo, a 15 % survey mask and CSST noise (50 galaxies/arcmin²).

Limits (E rms over the noise-only E rms): the linear filters (Wiener, smoothed KS, KS+) leak only
through the mask and edges, so pure B stays within 15 % of noise, and so do MCALens and the networks
(which never saw B modes in training); the sparse method's thresholds let a few B features through:
within 50 %.
The control must exceed the pure-B ratio by the margin given per method.
"""

from __future__ import annotations

import numpy as np
import pytest
from lensing_helpers import cut_field, nfw_kappa

from miu2net.maps import ShearMap
from miu2net.methods import METHODS, reconstruct
from miu2net.physics.wiener import signal_power
from miu2net.physics.masks import survey_mask
from miu2net.physics.operators import ks93_forward, rotate_shear
from miu2net.physics.shear import pixel_noise_sigma

PIXEL = 0.41
N = 256
SIGMA = pixel_noise_sigma(shape_noise_sigma=0.4, n_gal_arcmin2=50.0, pixel_arcmin=PIXEL)
HALO = (120, 140)

#: method -> (options, largest pure-B / noise E rms, smallest pure-E / noise E rms)
CASES = {
    "ks": ({"smooth_arcmin": 1.5}, 1.15, 1.4),
    "wiener": ({}, 1.15, 1.4),
    "ksplus": ({"smooth_arcmin": 1.5}, 1.15, 1.4),
    "sparse": ({}, 1.5, 2.0),
    "mcalens": ({}, 1.15, 1.4),
    "miu2net": ({}, 1.15, 1.4),
    "deepmass": ({}, 1.15, 1.4),
}


def test_every_method_is_covered():
    assert set(CASES) == set(METHODS), "add the new method to the B-mode null test"


@pytest.fixture(scope="module")
def observations():
    """Pure-B, noise-only and pure-E shear maps with one mask and one noise draw."""
    cl = signal_power(cl_kappa=None, z_source=None, nz=None)[0]
    field, _, _, rng = cut_field(cl, 5, n=N, box=4, pixel_arcmin=PIXEL)
    kappa = field + nfw_kappa((N, N), HALO, 6.0, 0.1)
    g1, g2 = ks93_forward(kappa, pad=True)
    b1, b2 = rotate_shear(g1, g2, np.pi / 4)
    mask = survey_mask((N, N), rng, target_fraction=0.15, pixel_arcmin=PIXEL)
    n1, n2 = SIGMA * rng.standard_normal((N, N)), SIGMA * rng.standard_normal((N, N))
    noise = np.full((N, N), SIGMA)

    def observe(a, b):
        return ShearMap((a + n1) * mask, (b + n2) * mask, PIXEL, mask=mask, noise=noise)

    return {"b": observe(b1, b2), "noise": observe(0 * b1, 0 * b2), "e": observe(g1, g2)}


@pytest.mark.parametrize("method", sorted(CASES))
def test_pure_b_shear_gives_an_e_mode_consistent_with_noise(method, observations):
    options, max_b, min_e = CASES[method]
    out = {k: reconstruct(s, method, **options) for k, s in observations.items()}
    noise_rms = out["noise"].kappa_e.std()
    ratio_b = out["b"].kappa_e.std() / noise_rms
    ratio_e = out["e"].kappa_e.std() / noise_rms
    print(f"{method}: E rms / noise-only E rms: pure B {ratio_b:.3f}, pure E {ratio_e:.3f}")
    np.testing.assert_array_less(ratio_b, max_b, err_msg=f"pure-B shear leaks into the {method} E mode")
    np.testing.assert_array_less(min_e, ratio_e, err_msg=f"control: pure-E shear must raise the {method} E mode")
    at = tuple(h * out["e"].kappa_e.shape[0] // N for h in HALO)  # the halo on a network's binned grid
    np.testing.assert_array_less(out["b"].kappa_e[at], 0.3 * out["e"].kappa_e[at],
                                 err_msg=f"{method}: the halo, rotated into B, still shows in E")
