"""KS+ (Pires et al. 2020): equals KS on complete data, inpaints gaps and borders, corrects reduced shear."""

from __future__ import annotations

import numpy as np
import pytest
from lensing_helpers import cut_field, nfw_kappa

from miu2net.errors import InputError
from miu2net.maps import ShearMap
from miu2net.methods import get_method, ks, ksplus
from miu2net.physics.wiener import signal_power
from miu2net.physics.masks import survey_mask
from miu2net.physics.operators import ks93_forward
from miu2net.physics.shear import pixel_noise_sigma, reduced_shear
from miu2net.sims.fields import gaussian_field
from miu2net.stats.metrics import gaussian_smooth, rmse

PIXEL = 0.41
SIGMA_PIX = pixel_noise_sigma(shape_noise_sigma=0.4, n_gal_arcmin2=50.0, pixel_arcmin=PIXEL)


@pytest.fixture(scope="module")
def cl():
    return signal_power(cl_kappa=None, z_source=None, nz=None)[0]


def test_equals_ks_on_a_complete_periodic_noise_free_field(cl):
    """No gap, no border, no noise, shear = gamma: nothing to inpaint, KS+ returns the KS map."""
    kappa = gaussian_field((128, 128), PIXEL, cl, np.random.default_rng(0))
    g1, g2 = ks93_forward(kappa)
    shear = ShearMap(g1, g2, PIXEL)
    plus = ksplus.reconstruct(shear, pad=False, reduced_shear=False)
    plain = ks.reconstruct(shear, pad=False)
    scale = np.abs(plain.kappa_e).max()
    np.testing.assert_allclose(plus.kappa_e, plain.kappa_e, atol=1e-5 * scale, err_msg="KS+ differs from KS (E)")
    np.testing.assert_allclose(plus.kappa_b, plain.kappa_b, atol=1e-5 * scale, err_msg="KS+ differs from KS (B)")
    np.testing.assert_allclose(plus.kappa_e, kappa - kappa.mean(), atol=1e-5 * scale, err_msg="KS+ is not the truth")


def test_agrees_with_ks_inside_and_repairs_the_borders(cl):
    """Unmasked, noise-free cut of a larger field: KS+ agrees with KS away from the edges and, treating the
    margin as missing data, has a lower error than zero-padded KS along the borders."""
    kappa, g1, g2, _ = cut_field(cl, 21)
    shear = ShearMap(g1, g2, PIXEL)
    plus = ksplus.reconstruct(shear, reduced_shear=False).kappa_e
    plain = ks.reconstruct(shear).kappa_e
    interior = np.zeros_like(kappa)
    interior[32:-32, 32:-32] = 1
    r = np.corrcoef(plus[interior > 0], plain[interior > 0])[0, 1]
    print(f"interior correlation KS+/KS {r:.4f}; border RMSE KS+ {rmse(plus, kappa, mask=1 - interior):.5f} "
          f"KS {rmse(plain, kappa, mask=1 - interior):.5f}")
    np.testing.assert_array_less(0.99, r, err_msg="KS+ and KS disagree in the interior of a complete field")
    np.testing.assert_array_less(
        rmse(plus, kappa, mask=1 - interior), 0.75 * rmse(plain, kappa, mask=1 - interior),
        err_msg="KS+ does not reduce the border error of KS",
    )


def test_inpainting_lowers_the_error_in_the_gaps_and_the_eb_leakage(cl):
    """Noise-free masked field (star holes, CCD gaps, ragged edge; 15 %): inside the masks away from the
    map border (where KS+ interpolates rather than extrapolates), KS+ is closer to the truth than KS, raw
    and after 1' smoothing, and the spurious B mode that the gaps give KS is much smaller."""
    kappa, g1, g2, rng = cut_field(cl, 7)
    mask = survey_mask(kappa.shape, rng, target_fraction=0.15, pixel_arcmin=PIXEL)
    shear = ShearMap(g1 * mask, g2 * mask, PIXEL, mask=mask)
    plus = ksplus.reconstruct(shear, reduced_shear=False)
    plain = ks.reconstruct(shear)
    interior = np.zeros_like(mask)
    interior[24:-24, 24:-24] = 1
    gaps = (1 - mask) * interior
    assert gaps.mean() > 0.05, "test set-up: the mask should have interior gaps"

    def smooth(m):
        return gaussian_smooth(m, sigma_arcmin=1.0, pixel_arcmin=PIXEL)

    raw_plus, raw_ks = rmse(plus.kappa_e, kappa, mask=gaps), rmse(plain.kappa_e, kappa, mask=gaps)
    smooth_plus = rmse(smooth(plus.kappa_e), smooth(kappa), mask=gaps)
    smooth_ks = rmse(smooth(plain.kappa_e), smooth(kappa), mask=gaps)
    print(f"interior-gap RMSE raw: KS+ {raw_plus:.5f}, KS {raw_ks:.5f}; 1' smoothed: KS+ {smooth_plus:.5f}, "
          f"KS {smooth_ks:.5f}; B rms KS+ {plus.kappa_b.std():.5f}, KS {plain.kappa_b.std():.5f}")
    np.testing.assert_array_less(raw_plus, 0.85 * raw_ks, err_msg="KS+ does not lower the raw error inside the masks")
    np.testing.assert_array_less(
        smooth_plus, 0.95 * smooth_ks, err_msg="KS+ does not lower the smoothed error inside the masks"
    )
    np.testing.assert_array_less(
        plus.kappa_b.std(), 0.4 * plain.kappa_b.std(), err_msg="KS+ does not reduce the E-to-B leakage of the gaps"
    )


def test_reduced_shear_correction():
    """A massive NFW halo (kappa up to 0.6) seen in reduced shear g = gamma/(1 - kappa), noise-free: taking g
    for gamma overestimates the core; the iterative correction gamma = g (1 - kappa) recovers it."""
    n = 128
    kappa = nfw_kappa((n, n), (64, 64), 6.0, 0.12)
    g1, g2 = reduced_shear(*ks93_forward(kappa, pad=True), kappa)
    shear = ShearMap(g1, g2, PIXEL)
    corrected = ksplus.reconstruct(shear).kappa_e
    uncorrected = ksplus.reconstruct(shear, reduced_shear=False).kappa_e
    core = (slice(63, 66), slice(63, 66))
    truth = kappa[core].mean()
    print(f"kappa max {kappa.max():.3f}; 3x3 core mean truth {truth:.3f}, corrected {corrected[core].mean():.3f}, "
          f"uncorrected {uncorrected[core].mean():.3f}")
    np.testing.assert_allclose(corrected[core].mean(), truth, rtol=0.04, err_msg="reduced-shear correction fails")
    np.testing.assert_array_less(truth * 1.08, uncorrected[core].mean(), err_msg="control: g as gamma must overshoot")


def test_registered():
    assert get_method("ksplus").reconstruct is ksplus.reconstruct


@pytest.mark.parametrize(
    "options, words",
    [
        (dict(n_iter=0), "n_iter"),
        (dict(n_iter=2.5), "n_iter"),
        (dict(n_scales=0), "n_scales"),
        (dict(n_scales=9), "n_scales"),
        (dict(smooth_arcmin=-1.0), "smooth_arcmin"),
    ],
)
def test_bad_options_raise_input_error(options, words):
    shear = ShearMap(np.zeros((64, 64)), np.zeros((64, 64)), PIXEL)
    with pytest.raises(InputError, match=words):
        ksplus.reconstruct(shear, **options)
