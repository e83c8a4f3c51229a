"""Starlet transform and GLIMPSE-like sparse recovery: exact transform, exact noise levels, halo positions."""

from __future__ import annotations

import numpy as np
import pytest
from lensing_helpers import nfw_kappa

from miu2net.errors import InputError
from miu2net.maps import ShearMap
from miu2net.methods import get_method, sparse
from miu2net.methods.starlet import (
    _transform_pixel,
    max_scales,
    propagate_noise,
    starlet_filters,
    starlet_reconstruct,
    starlet_transform,
    white_noise_norms,
)
from miu2net.methods.wiener import LensingGrid
from miu2net.physics.masks import survey_mask
from miu2net.physics.operators import ks93_forward
from miu2net.physics.shear import pixel_noise_sigma, reduced_shear

PIXEL = 0.41
SIGMA_PIX = pixel_noise_sigma(shape_noise_sigma=0.4, n_gal_arcmin2=50.0, pixel_arcmin=PIXEL)


def noisy_shear(g1, g2, rng, mask, sigma=SIGMA_PIX):
    n1, n2 = sigma * rng.standard_normal(g1.shape), sigma * rng.standard_normal(g1.shape)
    return ShearMap((g1 + n1) * mask, (g2 + n2) * mask, PIXEL, mask=mask, noise=np.full(g1.shape, sigma))


# ---------------------------------------------------------------------------------------------- starlet
@pytest.mark.parametrize("boundary", ["mirror", "periodic"])
def test_starlet_reconstructs_exactly(boundary):
    image = np.random.default_rng(0).standard_normal((96, 80))
    coeffs = starlet_transform(image, n_scales=4, boundary=boundary)
    assert coeffs.shape == (5, 96, 80)
    np.testing.assert_allclose(starlet_reconstruct(coeffs), image, atol=1e-12, err_msg="starlet sum != image")
    if boundary == "periodic":  # each detail filter has zero response at frequency 0
        np.testing.assert_allclose(coeffs[:-1].mean(axis=(1, 2)), 0, atol=1e-12, err_msg="detail scales have a mean")


def test_periodic_starlet_is_the_a_trous_algorithm_with_wrap_around():
    """The FFT transform equals the pixel-space B3 a trous cascade with periodic borders (complex input too)."""
    rng = np.random.default_rng(1)
    image = rng.standard_normal((64, 48)) + 1j * rng.standard_normal((64, 48))
    np.testing.assert_allclose(
        starlet_transform(image, n_scales=3, boundary="periodic"), _transform_pixel(image, 3, "wrap"), atol=1e-12,
        err_msg="FFT starlet differs from the a trous cascade",
    )
    # The first smoothing is the separable [1, 4, 6, 4, 1]/16 filter: check one pixel by hand.
    real = image.real
    h = np.array([1, 4, 6, 4, 1]) / 16
    patch = real[8:13, 8:13]
    smooth = h @ patch @ h
    coarse_1 = real - starlet_transform(real, n_scales=1, boundary="periodic")[0]
    np.testing.assert_allclose(coarse_1[10, 10], smooth, rtol=1e-12, err_msg="B3 smoothing")


def test_white_noise_norms_are_the_known_b3_values():
    """Starck, Murtagh & Fadili (2015), Table 3.x: 0.890, 0.201, 0.086, 0.041, 0.020 for unit white noise."""
    norms = white_noise_norms(n_scales=5)
    np.testing.assert_allclose(norms[:5], [0.890, 0.201, 0.0855, 0.0412, 0.0204], rtol=0.01, err_msg="B3 norms")
    noise = np.random.default_rng(2).standard_normal((512, 512))
    measured = starlet_transform(noise, n_scales=3, boundary="periodic")[:3].std(axis=(1, 2))
    np.testing.assert_allclose(measured, norms[:3], rtol=0.02, err_msg="measured noise per scale")


def test_noise_propagation_through_ks_matches_monte_carlo():
    """Per-pixel noise of each starlet scale of KS(noise) with a non-uniform, masked noise map, versus 400
    noise realisations (region averages, so the Monte Carlo error is about 1 %)."""
    n = 48
    grid = LensingGrid.build((n, n), PIXEL, pad=True)
    rng = np.random.default_rng(3)
    sigma = np.where(np.arange(n)[None, :] < n // 2, 0.1, 0.3) * np.ones((n, n))
    sigma[20:26, 10:16] = 0  # a hole: no noise (no data)
    variance = grid.embed(sigma**2)
    exact = propagate_noise(variance, n_scales=3, transfer=np.conj(grid.kernel))
    acc = np.zeros_like(exact)
    filters = starlet_filters(grid.padded_shape, n_scales=3)
    for _ in range(400):
        white = rng.standard_normal(grid.padded_shape) + 1j * rng.standard_normal(grid.padded_shape)
        noise = grid.embed(sigma) * white
        kappa = grid.adjoint(noise)
        coeffs = np.fft.ifft2(filters * np.fft.fft2(kappa)[None])
        acc += coeffs.real**2
    measured = np.sqrt(acc / 400)
    for region in [(slice(30, 40), slice(4, 14)), (slice(30, 40), slice(30, 44)), (slice(20, 26), slice(10, 16))]:
        window = grid.window
        sub = (slice(None), slice(window[0].start + region[0].start, window[0].start + region[0].stop),
               slice(window[1].start + region[1].start, window[1].start + region[1].stop))
        ratio = np.sqrt((measured[sub] ** 2).mean(axis=(1, 2)) / (exact[sub] ** 2).mean(axis=(1, 2)))
        # Detail scales to 4 %; the coarse scale is smooth, so its Monte Carlo error is larger.
        np.testing.assert_allclose(ratio[:3], 1.0, atol=0.04, err_msg=f"propagated noise wrong in region {region}")
        np.testing.assert_allclose(ratio[3], 1.0, atol=0.1, err_msg=f"coarse-scale noise wrong in region {region}")


def test_starlet_rejects_too_many_scales():
    assert max_scales((64, 64)) == 4
    with pytest.raises(InputError, match="n_scales"):
        starlet_transform(np.zeros((64, 64)), n_scales=5)
    with pytest.raises(InputError, match="boundary"):
        starlet_transform(np.zeros((64, 64)), n_scales=2, boundary="zero")


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
