"""Mask generators: values, target masked fractions and the power law of star-hole radii."""

import numpy as np
import pytest

from miu2net.physics.masks import ccd_gaps, power_law_radii, star_holes, survey_edge, survey_mask


@pytest.mark.parametrize("target", [0.10, 0.175, 0.25])
def test_target_masked_fraction(rng, target):
    for _ in range(5):
        mask = survey_mask((256, 256), rng, target_fraction=target, pixel_arcmin=0.41)
        assert set(np.unique(mask)) <= {0.0, 1.0}
        fraction = 1 - mask.mean()
        assert target <= fraction < target + 0.03, f"masked fraction {fraction:.3f} for target {target}"


def test_no_mask_for_zero_target(rng):
    assert survey_mask((32, 32), rng, target_fraction=0.0).all()


def test_power_law_radii_slope(rng):
    r = power_law_radii(rng, 200_000, r_min=1.0, r_max=100.0, slope=2.5)
    assert r.min() >= 1.0 and r.max() <= 100.0
    # MLE of the slope of a truncated power law with r_max >> r_min: 1 + n / sum(ln r / r_min)
    slope = 1 + len(r) / np.sum(np.log(r))
    np.testing.assert_allclose(slope, 2.5, rtol=0.02, err_msg="star-hole radii do not follow the power law")


def test_components_are_nonempty_and_partial(rng):
    for masked in (star_holes((128, 128), rng, n_holes=20), ccd_gaps((128, 128), rng),
                   survey_edge((128, 128), rng)):
        assert 0 < masked.mean() < 0.5
