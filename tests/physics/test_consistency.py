"""The large-scale B/E power ratio of the data check (miu2net.physics.consistency.b_to_e_ratio), from
the KS93 E/B algebra: rotating the shear by 45° swaps E and B, flipping e2 turns kappa_hat into
exp(-4i phi) kappa_hat (half the power to B), and noise alone gives B ~ E."""

import numpy as np
import pytest

from miu2net.physics.consistency import b_to_e_ratio
from miu2net.physics.operators import ks93_forward, rotate_shear
from miu2net.stats.spectra import ell_grid


def _field(rng, n=128, pixel=0.82):
    """A Gaussian kappa with equal power per mode over 400 < ell < 2000 (many modes in every direction,
    so that angular averages such as <cos^2 4phi> = 1/2 hold)."""
    ell = ell_grid((n, n), pixel)
    amp = ((ell > 400) & (ell < 2000)).astype(float)
    kappa = np.fft.ifft2(np.fft.fft2(rng.standard_normal((n, n))) * amp).real
    return 0.02 * kappa / kappa.std()


@pytest.fixture
def shear():
    rng = np.random.default_rng(11)
    g1, g2 = ks93_forward(_field(rng), pad=False)
    return g1, g2, np.ones_like(g1)


def test_pure_e_shear_has_no_b(shear):
    g1, g2, mask = shear
    assert b_to_e_ratio(g1, g2, mask, 0.82, pad=False) < 1e-20


def test_rotation_by_45_degrees_swaps_e_and_b(shear):
    g1, g2, mask = shear
    r1, r2 = rotate_shear(g1, g2, np.pi / 4)
    assert b_to_e_ratio(r1, r2, mask, 0.82, pad=False) > 1e20


def test_flipped_e2_puts_half_the_power_in_b(shear):
    g1, g2, mask = shear
    assert 0.6 < b_to_e_ratio(g1, -g2, mask, 0.82, pad=False) < 1.6


def test_noise_alone_gives_about_one():
    rng = np.random.default_rng(5)
    ratios = [b_to_e_ratio(rng.normal(0, 0.1, (128, 128)), rng.normal(0, 0.1, (128, 128)), np.ones((128, 128)), 0.82)
              for _ in range(20)]
    assert 0.85 < np.mean(ratios) < 1.15


def test_masked_pixels_are_ignored_and_bad_input_refused(shear):
    g1, g2, mask = shear
    mask = mask.copy()
    mask[40:60, :] = 0
    junk1, junk2 = g1.copy(), g2.copy()
    junk1[mask == 0], junk2[mask == 0] = 5.0, np.nan
    assert b_to_e_ratio(junk1, junk2, mask, 0.82) == pytest.approx(b_to_e_ratio(g1, g2, mask, 0.82))
    with pytest.raises(ValueError, match="no observed pixel"):
        b_to_e_ratio(g1, g2, np.zeros_like(mask), 0.82)
    with pytest.raises(ValueError, match="no Fourier mode"):
        b_to_e_ratio(g1, g2, mask, 0.82, ell_max=10.0)


def test_a_patch_of_sky_keeps_the_order():
    """A field cut from a larger box, zero-padded as the data check does: edge leakage puts some E into
    B, but good shear < flipped e2 < pure B still holds by a wide margin."""
    rng = np.random.default_rng(2)
    g1, g2 = ks93_forward(_field(rng, n=256), pad=False)
    g1, g2 = g1[64:192, 64:192], g2[64:192, 64:192]
    mask = np.ones_like(g1)
    r1, r2 = rotate_shear(g1, g2, np.pi / 4)
    good, flipped, b_mode = (b_to_e_ratio(a, b, mask, 0.82) for a, b in ((g1, g2), (g1, -g2), (r1, r2)))
    assert good < 0.1 and 0.6 < flipped < 1.6 and b_mode > 10
