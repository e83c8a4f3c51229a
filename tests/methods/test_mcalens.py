"""MCALens: Gaussian (Wiener) plus sparse (starlet) components; Wiener on Gaussian fields, better on haloes."""

from __future__ import annotations

import numpy as np
import pytest
from lensing_helpers import nfw_kappa

from miu2net.errors import InputError
from miu2net.maps import ShearMap
from miu2net.methods import get_method, mcalens, wiener
from miu2net.physics.wiener import signal_power
from miu2net.physics.masks import survey_mask
from miu2net.physics.operators import ks93_forward, rotate_shear
from miu2net.physics.shear import pixel_noise_sigma, reduced_shear
from miu2net.sims.fields import gaussian_field
from miu2net.stats.metrics import rmse

PIXEL = 0.41
SIGMA_PIX = pixel_noise_sigma(shape_noise_sigma=0.4, n_gal_arcmin2=50.0, pixel_arcmin=PIXEL)
N = 256
HALO = (120, 140)


@pytest.fixture(scope="module")
def fields():
    """A Gaussian field from the prior C_ell (cut from a 4x box) with and without an NFW halo, the mask and
    the noise of one csst-like observation."""
    cl = signal_power(cl_kappa=None, z_source=None, nz=None)[0]
    rng = np.random.default_rng(31)
    big = gaussian_field((4 * N, 4 * N), PIXEL, cl, rng)
    cut = slice(3 * N // 2, 5 * N // 2)
    gaussian = big[cut, cut]
    mask = survey_mask((N, N), rng, target_fraction=0.15, pixel_arcmin=PIXEL)
    mask[HALO[0] - 3 : HALO[0] + 4, HALO[1] - 3 : HALO[1] + 4] = 1
    noise = SIGMA_PIX * (rng.standard_normal((N, N)) + 1j * rng.standard_normal((N, N)))
    return gaussian, nfw_kappa((N, N), HALO, 6.0, 0.1), mask, noise


def observe(kappa, mask, noise, *, rotate=False):
    g1, g2 = reduced_shear(*ks93_forward(kappa, pad=True), kappa)
    if rotate:
        g1, g2 = rotate_shear(g1, g2, np.pi / 4)
    sigma = np.full((N, N), SIGMA_PIX)
    return ShearMap((g1 + noise.real) * mask, (g2 + noise.imag) * mask, PIXEL, mask=mask, noise=sigma)


def test_beats_wiener_on_a_halo_and_matches_it_on_a_gaussian_field(fields):
    gaussian, halo, mask, noise = fields
    results = {}
    for name, kappa in (("gaussian", gaussian), ("gaussian+halo", gaussian + halo)):
        shear = observe(kappa, mask, noise)
        results[name] = (kappa, mcalens.reconstruct(shear), wiener.reconstruct(shear))
    kappa, mca, wf = results["gaussian+halo"]
    core = (slice(HALO[0] - 1, HALO[0] + 2), slice(HALO[1] - 1, HALO[1] + 2))
    print(f"halo field: RMSE MCALens {rmse(mca.kappa_e, kappa):.5f}, Wiener {rmse(wf.kappa_e, kappa):.5f}; "
          f"3x3 core MCALens {mca.kappa_e[core].mean():.3f}, Wiener {wf.kappa_e[core].mean():.3f}, "
          f"truth {kappa[core].mean():.3f}; support {mca.meta['n_support']} coefficients, "
          f"{mca.meta['n_iter']} alternations")
    np.testing.assert_array_less(rmse(mca.kappa_e, kappa), 0.995 * rmse(wf.kappa_e, kappa), err_msg="MCALens RMSE")
    np.testing.assert_array_less(
        1.5 * wf.kappa_e[core].mean(), mca.kappa_e[core].mean(), err_msg="MCALens should recover the halo core"
    )
    # The sparse component is biased low by thresholding: over seeds 31-34 the 3x3 core comes out at
    # 0.64-0.77 of the truth (0.70 here). The bound guards against losing the halo, not that bias.
    np.testing.assert_array_less(0.6 * kappa[core].mean(), mca.kappa_e[core].mean(), err_msg="halo core amplitude")
    assert mca.meta["converged"]
    kappa, mca, wf = results["gaussian"]
    print(f"Gaussian field: RMSE MCALens {rmse(mca.kappa_e, kappa):.5f}, Wiener {rmse(wf.kappa_e, kappa):.5f}")
    np.testing.assert_allclose(
        rmse(mca.kappa_e, kappa), rmse(wf.kappa_e, kappa), rtol=0.005, err_msg="MCALens departs from Wiener on a GRF"
    )


def test_without_support_it_is_the_wiener_filter(fields):
    """No coefficient passes an absurd detection level: the sparse part is empty and the map is the Wiener one."""
    gaussian, _, mask, noise = fields
    shear = observe(gaussian, mask, noise)
    mca = mcalens.reconstruct(shear, k_sigma=1e6)
    wf = wiener.reconstruct(shear)
    assert mca.meta["n_support"] == 0
    np.testing.assert_allclose(
        mca.kappa_e, wf.kappa_e, atol=2e-3 * np.abs(wf.kappa_e).max(), err_msg="empty support but not the Wiener map"
    )


def test_registered():
    assert get_method("mcalens").reconstruct is mcalens.reconstruct


@pytest.mark.parametrize(
    "options, words",
    [
        (dict(k_sigma=-3), "k_sigma"),
        (dict(n_scales=3, first_detect_scale=3), "first_detect_scale"),
        (dict(first_detect_scale=-1), "first_detect_scale"),
        (dict(max_iter=0), "max_iter"),
        (dict(wiener_tol=0), "wiener_tol"),
        (dict(z_source=0.0), "z_source"),
        (dict(nz=([0.1, 0.5], [1.0, 2.0]), cl_kappa=lambda ell: ell), "only one"),
    ],
)
def test_bad_options_raise_input_error(options, words):
    shear = ShearMap(np.zeros((64, 64)), np.zeros((64, 64)), PIXEL)
    with pytest.raises(InputError, match=words):
        mcalens.reconstruct(shear, **options)
