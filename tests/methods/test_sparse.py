"""GLIMPSE-like sparse recovery: halo positions, positivity, reduced shear, pure noise, options.

The starlet transform itself is tested in tests/methods/test_starlet.py."""

from __future__ import annotations

import numpy as np
import pytest
from lensing_helpers import nfw_kappa

from miu2net.errors import InputError
from miu2net.maps import ShearMap
from miu2net.methods import get_method, sparse
from miu2net.physics.masks import survey_mask
from miu2net.physics.operators import ks93_forward
from miu2net.physics.shear import pixel_noise_sigma, reduced_shear

PIXEL = 0.41
SIGMA_PIX = pixel_noise_sigma(shape_noise_sigma=0.4, n_gal_arcmin2=50.0, pixel_arcmin=PIXEL)


def noisy_shear(g1, g2, rng, mask, sigma=SIGMA_PIX):
    n1, n2 = sigma * rng.standard_normal(g1.shape), sigma * rng.standard_normal(g1.shape)
    return ShearMap((g1 + n1) * mask, (g2 + n2) * mask, PIXEL, mask=mask, noise=np.full(g1.shape, sigma))


# ---------------------------------------------------------------------------------------------- sparse
@pytest.fixture(scope="module")
def halo_field():
    """An isolated NFW halo (r_s = 6 px = 2.5', kappa_s = 0.1) in reduced shear, csst noise, 15 % mask."""
    n = 256
    centre = (141, 97)
    kappa = nfw_kappa((n, n), centre, 6.0, 0.1)
    g1, g2 = reduced_shear(*ks93_forward(kappa, pad=True), kappa)
    rng = np.random.default_rng(4)
    mask = survey_mask((n, n), rng, target_fraction=0.15, pixel_arcmin=PIXEL)
    mask[centre[0] - 3 : centre[0] + 4, centre[1] - 3 : centre[1] + 4] = 1  # the halo centre is observed
    shear = noisy_shear(g1, g2, rng, mask)
    return kappa, centre, shear, sparse.reconstruct(shear)


def test_isolated_nfw_peak_is_found_within_one_pixel(halo_field):
    kappa, centre, shear, out = halo_field
    peak = np.unravel_index(np.argmax(out.kappa_e), out.kappa_e.shape)
    offset = np.hypot(peak[0] - centre[0], peak[1] - centre[1])
    print(f"sparse peak at {peak} (true {centre}), offset {offset:.2f} px, amplitude {out.kappa_e.max():.3f} "
          f"(true {kappa.max():.3f}); iterations {out.meta['n_iter']}")
    np.testing.assert_array_less(offset, 1.01, err_msg="the sparse map puts the NFW peak more than 1 pixel away")
    assert out.meta["converged"]
    # Everything away from the halo is (almost) empty: thresholds hold the noise back.
    far = np.hypot(*np.meshgrid(np.arange(256) - centre[1], np.arange(256) - centre[0])) > 30
    np.testing.assert_array_less(
        np.abs(out.kappa_e[far]).mean(), 0.05 * SIGMA_PIX, err_msg="noise left far from the halo"
    )


def test_positivity_and_hard_thresholding(halo_field):
    _, centre, shear, default = halo_field
    positive = sparse.reconstruct(shear, positivity=True)
    assert positive.kappa_e.min() >= 0, "positivity option violated"
    peak = np.unravel_index(np.argmax(positive.kappa_e), positive.kappa_e.shape)
    np.testing.assert_array_less(np.hypot(peak[0] - centre[0], peak[1] - centre[1]), 1.01, err_msg="positive: peak")
    # Hard thresholding keeps significant coefficients unshrunk, but the reweighted soft solution already
    # recovers most of this bright core (soft 0.314, hard 0.308 here): hard must not lose it.
    soft = default.kappa_e[centre]
    hard = sparse.reconstruct(shear, thresholding="hard").kappa_e[centre]
    print(f"halo centre: soft {soft:.3f}, hard {hard:.3f}")
    np.testing.assert_array_less(0.95 * soft, hard, err_msg="hard thresholding should not shrink the halo")


def test_reduced_shear_correction_lowers_the_overestimate(halo_field):
    kappa, centre, shear, default = halo_field
    core = (slice(centre[0] - 2, centre[0] + 3), slice(centre[1] - 2, centre[1] + 3))
    corrected = default.kappa_e[core].sum()
    uncorrected = sparse.reconstruct(shear, reduced_shear=False).kappa_e[core].sum()
    print(f"5x5 core sum: corrected {corrected:.3f}, uncorrected {uncorrected:.3f}, truth {kappa[core].sum():.3f}")
    np.testing.assert_array_less(corrected * 1.03, uncorrected, err_msg="g taken as gamma should give more mass")


def test_pure_noise_gives_an_almost_empty_map():
    """k-sigma thresholds set from the propagated noise map: pure noise leaves almost nothing."""
    rng = np.random.default_rng(5)
    mask = survey_mask((256, 256), rng, target_fraction=0.15, pixel_arcmin=PIXEL)
    shear = noisy_shear(np.zeros((256, 256)), np.zeros((256, 256)), rng, mask)
    out = sparse.reconstruct(shear)
    print(f"pure noise: sparse E rms {out.kappa_e.std():.5f} vs pixel noise {SIGMA_PIX:.4f}")
    np.testing.assert_array_less(out.kappa_e.std(), 0.03 * SIGMA_PIX, err_msg="noise passes the thresholds")


def test_iteration_cap_warns():
    rng = np.random.default_rng(7)
    kappa = nfw_kappa((64, 64), (32, 32), 4.0, 0.2)
    shear = noisy_shear(*ks93_forward(kappa, pad=True), rng, np.ones((64, 64)))
    with pytest.warns(RuntimeWarning, match="max_iter"):
        out = sparse.reconstruct(shear, max_iter=2, tol=1e-12)
    assert out.meta["converged"] is False


def test_registered():
    assert get_method("sparse").reconstruct is sparse.reconstruct


@pytest.mark.parametrize(
    "options, words",
    [
        (dict(k_sigma=0), "k_sigma"),
        (dict(n_scales=7), "n_scales"),
        (dict(thresholding="firm"), "thresholding"),
        (dict(tol=-1.0), "tol"),
        (dict(max_iter=0), "max_iter"),
        (dict(n_reweight=-1), "n_reweight"),
        (dict(shape_noise_sigma=-0.4), "shape_noise_sigma"),
    ],
)
def test_bad_options_raise_input_error(options, words):
    shear = ShearMap(np.zeros((64, 64)), np.zeros((64, 64)), PIXEL)
    with pytest.raises(InputError, match=words):
        sparse.reconstruct(shear, **options)
