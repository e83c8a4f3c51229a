"""The starlet (isotropic undecimated B3 wavelet) transform: exact reconstruction, the a trous cascade,
the known noise norms, noise propagation through KS, and the scale checks."""

from __future__ import annotations

import numpy as np
import pytest

from miu2net.errors import InputError
from miu2net.methods.starlet import (
    DEFAULT_N_SCALES,
    _transform_pixel,
    check_n_scales,
    max_scales,
    propagate_noise,
    starlet_filters,
    starlet_reconstruct,
    starlet_transform,
    white_noise_norms,
)
from miu2net.physics.wiener import LensingGrid

PIXEL = 0.41


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


def test_filters_sum_to_one_at_every_frequency():
    filters = starlet_filters((32, 48), n_scales=3)
    assert filters.shape == (4, 32, 48)
    np.testing.assert_allclose(filters.sum(axis=0), 1.0, atol=1e-14)
    assert filters[0, 0, 0] == 0.0 and filters[-1, 0, 0] == 1.0, "the mean lives in the coarse scale only"


def test_a_constant_image_has_no_detail():
    coeffs = starlet_transform(np.full((40, 40), 3.0), n_scales=3)
    np.testing.assert_allclose(coeffs[:-1], 0.0, atol=1e-12)
    np.testing.assert_allclose(coeffs[-1], 3.0, atol=1e-12)


def test_scale_counts_follow_the_widest_filter():
    # the widest of J detail scales spans 4 * 2**(J-1) + 1 pixels
    assert max_scales((5, 5)) == 1 and max_scales((8, 64)) == 1 and max_scales((9, 9)) == 2 and max_scales((128, 128)) == 5
    assert check_n_scales(None, (256, 256)) == DEFAULT_N_SCALES
    assert check_n_scales(None, (16, 16)) == max_scales((16, 16)) == 2
    assert check_n_scales(2, (16, 16)) == 2
    with pytest.raises(InputError, match="n_scales"):
        check_n_scales(3, (16, 16))
