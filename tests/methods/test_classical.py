"""The machinery the iterative classical methods share: noise weights, data on the padded grid, the
reduced-shear correction."""

import numpy as np
import pytest

from miu2net.maps import ShearMap
from miu2net.methods.classical import inverse_noise_weights, shear_data, shear_from_reduced
from miu2net.physics.shear import pixel_noise_sigma
from miu2net.physics.wiener import LensingGrid

PIXEL = 0.41


def _shear(rng, n=32, *, noise=None):
    mask = np.ones((n, n))
    mask[5:9, 10:20] = 0.0
    g1, g2 = 0.02 * rng.standard_normal((2, n, n))
    return ShearMap(g1=g1 * mask, g2=g2 * mask, mask=mask, noise=noise, pixel_arcmin=PIXEL)


def test_weights_are_the_inverse_variance_of_the_noise_map_and_zero_where_unobserved(rng):
    noise = np.full((32, 32), 0.2)
    noise[:, :16] = 0.1
    shear = _shear(rng, noise=noise)
    grid = LensingGrid.build(shear.shape, PIXEL, pad=True)
    weights, source = inverse_noise_weights(shear, grid, shape_noise_sigma=0.4, n_gal_arcmin2=50.0)
    assert source == "noise map"
    inside = grid.crop(weights)
    np.testing.assert_allclose(inside[20, 3], 1 / 0.1**2)
    np.testing.assert_allclose(inside[20, 25], 1 / 0.2**2)
    assert inside[6, 12] == 0.0, "a masked pixel carries no information"
    assert weights.sum() == pytest.approx(inside.sum()), "the padding carries no weight"


def test_uniform_weights_from_the_survey_numbers(rng):
    shear = _shear(rng)
    grid = LensingGrid.build(shear.shape, PIXEL, pad=False)
    weights, source = inverse_noise_weights(shear, grid, shape_noise_sigma=0.3, n_gal_arcmin2=20.0)
    sigma = pixel_noise_sigma(shape_noise_sigma=0.3, n_gal_arcmin2=20.0, pixel_arcmin=PIXEL)
    np.testing.assert_allclose(weights[shear.mask > 0], 1 / sigma**2)
    assert "shape_noise_sigma=0.3" in source and "n_gal_arcmin2=20" in source


def test_shear_data_is_the_observed_complex_shear_on_the_grid(rng):
    shear = _shear(rng)
    grid = LensingGrid.build(shear.shape, PIXEL, pad=True)
    data = shear_data(shear, grid)
    assert data.shape == grid.padded_shape and np.iscomplexobj(data)
    assert np.abs(data).sum() == pytest.approx(np.abs((shear.g1 + 1j * shear.g2) * shear.mask).sum())


def test_reduced_shear_correction_inverts_g_of_gamma():
    kappa = np.array([0.0, 0.1, 0.3])
    gamma = np.array([0.02 + 0.01j, -0.05j, 0.1])
    reduced = gamma / (1 - kappa)
    np.testing.assert_allclose(shear_from_reduced(reduced, kappa), gamma, rtol=1e-14)
