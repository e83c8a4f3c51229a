"""Noise realisations: randomly rotated ellipticities, Gaussian pixel noise, and their standard deviation."""

import numpy as np
import pytest

from miu2net.errors import InputError
from miu2net.maps import KappaMap, ShearMap
from miu2net.survey.grid import Binning
from miu2net.survey.noise import catalogue_noise_shear, gridded_noise_shear, noise_sigma


def _one_galaxy_per_pixel(n_side=40, seed=0):
    """A binning with one galaxy of weight 1 in each pixel and no frame rotation (binned g = conj(e))."""
    rng = np.random.default_rng(seed)
    n = n_side * n_side
    e = 0.3 * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
    e = np.where(np.abs(e) < 0.9, e, 0.1)
    binning = Binning(pixel_index=np.arange(n), ellipticity=e, weight=np.ones(n), rotation=np.ones(n, complex),
                      shape=(n_side, n_side), per_component_sigma=0.3)
    g1, g2, _ = binning.bin(e.real, e.imag)
    return binning, ShearMap(g1=g1, g2=g2, pixel_arcmin=1.0)


def test_rotated_ellipticities_keep_their_modulus():
    binning, shear = _one_galaxy_per_pixel()
    noise = catalogue_noise_shear(shear, binning, np.random.default_rng(1))
    np.testing.assert_allclose(np.hypot(noise.g1, noise.g2).ravel(), np.abs(binning.ellipticity), rtol=1e-12)
    assert not np.allclose(noise.g1, shear.g1), "the phases were redrawn"
    assert noise.pixel_arcmin == shear.pixel_arcmin and np.array_equal(noise.mask, shear.mask)


def test_rotated_ellipticities_give_zero_mean_shear():
    """Uniform phases destroy the signal: even a coherent shear averages to zero over the galaxies."""
    n = 100 * 100
    binning = Binning(pixel_index=np.arange(n), ellipticity=np.full(n, 0.2 + 0.1j), weight=np.ones(n),
                      rotation=np.ones(n, complex), shape=(100, 100), per_component_sigma=0.2)
    shear = ShearMap(g1=np.full((100, 100), 0.2), g2=np.full((100, 100), -0.1), pixel_arcmin=1.0)
    noise = catalogue_noise_shear(shear, binning, np.random.default_rng(2))
    modulus = np.hypot(0.2, 0.1)
    error = modulus / np.sqrt(2 * n)  # standard error of the mean of one component
    assert abs(noise.g1.mean()) < 4 * error and abs(noise.g2.mean()) < 4 * error
    assert noise.g1.std() == pytest.approx(modulus / np.sqrt(2), rel=0.03)


def test_gridded_noise_has_the_noise_map_sigma_and_zero_in_masked_pixels():
    mask = np.ones((64, 64))
    mask[:, :8] = 0
    sigma = np.where(np.arange(64)[None, :] < 32, 0.05, 0.2) * np.ones((64, 1))
    shear = ShearMap(g1=np.zeros((64, 64)), g2=np.zeros((64, 64)), pixel_arcmin=1.0, mask=mask, noise=sigma)
    noise = gridded_noise_shear(shear, np.random.default_rng(3))
    assert np.all(noise.g1[:, :8] == 0) and np.all(noise.g2[:, :8] == 0)
    assert noise.g1[:, 8:32].std() == pytest.approx(0.05, rel=0.08)
    assert noise.g2[:, 32:].std() == pytest.approx(0.2, rel=0.08)
    with pytest.raises(InputError, match="need a NOISE map"):
        gridded_noise_shear(ShearMap(g1=np.zeros((8, 8)), g2=np.zeros((8, 8)), pixel_arcmin=1.0),
                            np.random.default_rng(0))


def _identity_run(shear):
    return KappaMap(kappa_e=shear.g1, kappa_b=shear.g2, pixel_arcmin=shear.pixel_arcmin)


def test_noise_sigma_of_unit_gaussian_realisations_is_one_and_reproducible():
    shear = ShearMap(g1=np.zeros((32, 32)), g2=np.zeros((32, 32)), pixel_arcmin=1.0, noise=np.ones((32, 32)))
    done = []
    sigma = noise_sigma(lambda rng: gridded_noise_shear(shear, rng), _identity_run, n_realisations=200, seed=7,
                        progress=done.append)
    assert done == list(range(1, 201))
    # the sample standard deviation of 200 draws scatters by 1/sqrt(400) = 5 % per pixel
    assert sigma.mean() == pytest.approx(1.0, abs=0.01) and sigma.std() == pytest.approx(0.05, rel=0.15)
    again = noise_sigma(lambda rng: gridded_noise_shear(shear, rng), _identity_run, n_realisations=200, seed=7)
    np.testing.assert_array_equal(sigma, again)
    with pytest.raises(InputError, match="at least 2 noise realisations"):
        noise_sigma(lambda rng: shear, _identity_run, n_realisations=1)
