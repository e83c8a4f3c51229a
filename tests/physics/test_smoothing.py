"""Gaussian smoothing: the kernel's normalisation and width in arcmin, the mean kept, batches of maps."""

import numpy as np
import pytest

from miu2net.physics.smoothing import gaussian_smooth
from miu2net.sims.fields import gaussian_field


@pytest.fixture
def field(rng):
    return gaussian_field((64, 64), 1.0, lambda ell: 1e-9 * (ell / 1e3) ** -1.0, rng)


def test_smoothing_preserves_mean_and_reduces_variance(field):
    smooth = gaussian_smooth(field + 1.0, sigma_arcmin=2.0, pixel_arcmin=1.0)
    assert smooth.mean() == pytest.approx(field.mean() + 1.0, abs=1e-3)
    assert smooth.std() < field.std()
    batch = gaussian_smooth(np.stack([field, field]), sigma_arcmin=2.0, pixel_arcmin=1.0)
    np.testing.assert_allclose(batch[1], smooth - 1.0, atol=1e-12)


@pytest.mark.parametrize("sigma_arcmin, pixel_arcmin", [(2.0, 0.5), (1.5, 0.41)])
def test_smoothed_delta_integrates_to_one_with_the_asked_sigma_in_arcmin(sigma_arcmin, pixel_arcmin):
    n = 81
    delta = np.zeros((n, n))
    delta[40, 40] = 1.0
    kernel = gaussian_smooth(delta, sigma_arcmin=sigma_arcmin, pixel_arcmin=pixel_arcmin)
    assert kernel.sum() == pytest.approx(1.0, abs=1e-6)
    offsets = (np.arange(n) - 40) * pixel_arcmin  # arcmin
    var_x = np.sum(kernel.sum(axis=0) * offsets**2)
    var_y = np.sum(kernel.sum(axis=1) * offsets**2)
    # scipy's kernel is the sampled Gaussian: its discrete variance is sigma^2 to within a per cent here
    assert np.sqrt(var_x) == pytest.approx(sigma_arcmin, rel=0.01) and np.sqrt(var_y) == pytest.approx(sigma_arcmin, rel=0.01)
    assert np.argmax(kernel) == 40 * n + 40


def test_sigma_is_a_standard_deviation_not_a_fwhm():
    delta = np.zeros((101, 101))
    delta[50, 50] = 1.0
    profile = gaussian_smooth(delta, sigma_arcmin=4.0, pixel_arcmin=1.0)[50]
    # at one sigma from the centre a Gaussian is exp(-1/2) of its peak
    assert profile[54] / profile[50] == pytest.approx(np.exp(-0.5), rel=0.01)


def test_zero_sigma_copies_and_negative_sigma_is_refused():
    image = np.arange(16.0).reshape(4, 4)
    out = gaussian_smooth(image, sigma_arcmin=0.0, pixel_arcmin=1.0)
    np.testing.assert_array_equal(out, image)
    out[0, 0] = -1.0
    assert image[0, 0] == 0.0, "a copy, not a view of the input"
    with pytest.raises(ValueError, match="sigma_arcmin must be >= 0"):
        gaussian_smooth(image, sigma_arcmin=-1.0, pixel_arcmin=1.0)


def test_a_stack_is_smoothed_map_by_map_not_across_maps():
    stack = np.zeros((3, 21, 21))
    stack[1, 10, 10] = 1.0
    out = gaussian_smooth(stack, sigma_arcmin=2.0, pixel_arcmin=1.0)
    assert out[0].max() == 0.0 and out[2].max() == 0.0 and out[1].sum() == pytest.approx(1.0, abs=1e-4)
