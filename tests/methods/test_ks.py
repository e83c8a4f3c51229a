"""Kaiser-Squires: exact inverse of the forward operator on periodic fields, lenspack agreement, options."""

import numpy as np
import pytest
from lenspack.image.inversion import ks93 as lenspack_ks93

from miu2net.maps import ShearMap
from miu2net.methods import ks
from miu2net.physics.operators import ks93_forward
from miu2net.physics.smoothing import gaussian_smooth


def test_method_without_padding_equals_lenspack(rng):
    g1, g2 = 0.05 * rng.standard_normal((2, 63, 63))
    kappa = ks.reconstruct(ShearMap(g1=g1, g2=g2, pixel_arcmin=0.5), pad=False)
    np.testing.assert_allclose(kappa.kappa_e, lenspack_ks93(g1, g2)[0], atol=1e-12)


def _zero_mean_field(shape, seed=0):
    """A periodic, zero-mean field without power at the Nyquist frequency (odd sides: there is none)."""
    kappa = 0.03 * np.random.default_rng(seed).standard_normal(shape)
    return kappa - kappa.mean()


@pytest.mark.parametrize("shape", [(33, 33), (31, 45)])
def test_round_trip_kappa_to_shear_to_kappa_is_exact(shape):
    """On the periodic grid KS inverts the forward operator: kappa -> gamma -> KS gives kappa back, no B."""
    kappa = _zero_mean_field(shape)
    g1, g2 = ks93_forward(kappa, pad=False)
    out = ks.reconstruct(ShearMap(g1=g1, g2=g2, pixel_arcmin=0.5), pad=False)
    np.testing.assert_allclose(out.kappa_e, kappa, atol=1e-10, err_msg="KS(forward(kappa)) != kappa")
    np.testing.assert_allclose(out.kappa_b, 0.0, atol=1e-10, err_msg="a pure E field gave a B mode")


def test_rotating_the_shear_by_45_degrees_swaps_e_and_b():
    """g -> -i g (a 45 degree rotation of every ellipticity) turns kappa_E into kappa_B."""
    kappa = _zero_mean_field((33, 33), seed=1)
    g1, g2 = ks93_forward(kappa, pad=False)
    out = ks.reconstruct(ShearMap(g1=g2, g2=-g1, pixel_arcmin=0.5), pad=False)
    np.testing.assert_allclose(out.kappa_e, 0.0, atol=1e-10)
    np.testing.assert_allclose(np.abs(out.kappa_b), np.abs(kappa), atol=1e-10)


def test_smoothing_is_the_gaussian_of_the_unsmoothed_map_and_is_recorded():
    kappa = _zero_mean_field((32, 32), seed=2)
    shear = ShearMap(*ks93_forward(kappa, pad=False), pixel_arcmin=0.5)
    plain = ks.reconstruct(shear)
    smooth = ks.reconstruct(shear, smooth_arcmin=1.5)
    np.testing.assert_allclose(smooth.kappa_e, gaussian_smooth(plain.kappa_e, sigma_arcmin=1.5, pixel_arcmin=0.5),
                               atol=1e-14)
    np.testing.assert_allclose(smooth.kappa_b, gaussian_smooth(plain.kappa_b, sigma_arcmin=1.5, pixel_arcmin=0.5),
                               atol=1e-14)
    assert smooth.meta == {"method": "ks", "options": {"smooth_arcmin": 1.5, "pad": True}}
    assert smooth.pixel_arcmin == 0.5 and smooth.kappa_e.shape == (32, 32)


def test_masked_pixels_count_as_zero_shear():
    rng = np.random.default_rng(3)
    g1, g2 = 0.05 * rng.standard_normal((2, 24, 24))
    mask = np.ones((24, 24))
    mask[5:10, 5:10] = 0
    masked = ks.reconstruct(ShearMap(g1=g1, g2=g2, pixel_arcmin=1.0, mask=mask))
    zeroed = ks.reconstruct(ShearMap(g1=g1 * mask, g2=g2 * mask, pixel_arcmin=1.0))
    np.testing.assert_array_equal(masked.kappa_e, zeroed.kappa_e)


def test_padding_stops_shear_leaking_to_the_opposite_edge():
    """A tangential pattern near the left edge: with padding the far right edge stays quieter than without."""
    kappa = np.zeros((32, 32))
    kappa[16, 2] = 1.0
    g1, g2 = ks93_forward(kappa, pad=True)
    shear = ShearMap(g1=g1, g2=g2, pixel_arcmin=1.0)
    padded, periodic = ks.reconstruct(shear, pad=True), ks.reconstruct(shear, pad=False)
    assert np.argmax(padded.kappa_e) == np.ravel_multi_index((16, 2), (32, 32))
    assert np.abs(padded.kappa_e[:, -3:]).max() < np.abs(periodic.kappa_e[:, -3:]).max()
