"""The small synthetic data set: layout, finite values, noise level, masks and reproducible seeds."""

import numpy as np
import pytest

from miu2net.sims.synthetic import synthetic_maps

KEYS = {"kappa", "g1", "g2", "g1_noiseless", "g2_noiseless", "mask", "noise"}


@pytest.fixture(scope="module")
def maps():
    return synthetic_maps(3, 32, pixel_arcmin=0.82, seed=4)


def test_keys_shapes_dtypes_and_finite_values(maps):
    assert set(maps) == KEYS
    for key, value in maps.items():
        assert value.shape == (3, 32, 32) and value.dtype == np.float32, key
        assert np.isfinite(value).all(), key


def test_same_seed_same_maps_other_seed_other_maps(maps):
    again = synthetic_maps(3, 32, pixel_arcmin=0.82, seed=4)
    for key in KEYS:
        np.testing.assert_array_equal(again[key], maps[key], err_msg=key)
    other = synthetic_maps(3, 32, pixel_arcmin=0.82, seed=5)
    assert not np.array_equal(other["kappa"], maps["kappa"])


def test_noise_is_the_pixel_noise_of_the_survey_numbers(maps):
    # (sigma_e / sqrt 2) / sqrt(n_gal * pixel^2) = 0.4 / sqrt 2 / sqrt(50 * 0.82^2)
    sigma = 0.4 / np.sqrt(2) / np.sqrt(50.0 * 0.82**2)
    observed = maps["mask"] > 0
    np.testing.assert_allclose(maps["noise"][observed], sigma, rtol=1e-6)
    assert np.all(maps["noise"][~observed] == 0)
    residual = (maps["g1"] - maps["g1_noiseless"])[observed]
    assert residual.std() == pytest.approx(sigma, rel=0.05)


def test_masks_are_binary_cover_the_asked_fraction_and_zero_the_shear(maps):
    mask = maps["mask"]
    assert set(np.unique(mask)) <= {0.0, 1.0}
    assert np.all(1 - mask.mean(axis=(1, 2)) >= 0.1)
    assert np.all(maps["g1"][mask == 0] == 0) and np.all(maps["g2"][mask == 0] == 0)
    none = synthetic_maps(1, 32, masked_fraction=0.0, seed=1)
    assert none["mask"].min() == 1.0


def test_reduced_shear_of_the_convergence(maps):
    """The noiseless shear is reduced: g (1 - kappa) is the shear of kappa, whose amplitude follows A."""
    weak = synthetic_maps(1, 32, amplitude=1e-12, seed=2)
    strong = synthetic_maps(1, 32, amplitude=4e-12, seed=2)
    ratio = strong["kappa"].std() / weak["kappa"].std()
    assert ratio == pytest.approx(2.0, rel=1e-4), "kappa scales as sqrt(A)"
    assert np.abs(weak["g1_noiseless"]).max() > 0
