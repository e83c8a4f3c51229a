"""Split-conformal intervals and the data-check ranges: quantiles, coverage, pixel classes, CHI2DOF and B/E."""

import numpy as np
import pytest

from miu2net.errors import InputError
from miu2net.nn.conformal import LEVELS, Calibration, conformal_quantiles, median_noise, pixel_classes, range_summary


def test_conformal_quantiles_of_a_known_distribution():
    rng = np.random.default_rng(1)
    scores = np.abs(rng.standard_normal(40000))
    q = conformal_quantiles(scores, [0.68, 0.9, 0.95])
    np.testing.assert_allclose(q, [0.9945, 1.6449, 1.9600], rtol=0.02, err_msg="quantiles of |N(0, 1)|")
    fresh = np.abs(rng.standard_normal(40000))
    np.testing.assert_allclose([np.mean(fresh <= v) for v in q], [0.68, 0.9, 0.95], atol=0.006,
                               err_msg="held-out coverage of split conformal intervals")
    # finite-sample rule: the ceil((n+1)c)-th smallest score; beyond n it is unbounded
    small = np.arange(1.0, 20.0)  # n = 19
    assert conformal_quantiles(small, [0.9])[0] == 18.0 and conformal_quantiles(small, [0.99])[0] == np.inf


def test_conformal_rescales_a_miscalibrated_spread():
    """Residuals sigma * z with a network spread twice too large: q ~ 0.5, and the calibrated intervals cover."""
    rng = np.random.default_rng(2)
    sigma = rng.uniform(0.01, 0.05, 30000)
    resid = sigma * rng.standard_normal(sigma.size)
    q = conformal_quantiles(np.abs(resid) / (2 * sigma), [0.68, 0.9])
    np.testing.assert_allclose(q, [0.497, 0.822], rtol=0.04)
    sigma2 = rng.uniform(0.01, 0.05, 30000)
    fresh = sigma2 * rng.standard_normal(sigma2.size)
    for level, qc in zip((0.68, 0.9), q):
        assert abs(np.mean(np.abs(fresh) <= qc * 2 * sigma2) - level) < 0.01


def test_chi2_range_follows_the_depth():
    """A network for many depths is judged against calibration maps of the input's noise level."""
    from miu2net.nn.calibration import range_summary

    rng = np.random.default_rng(3)
    noise = np.exp(rng.uniform(np.log(0.02), np.log(0.2), 600))
    chi2 = 1.0 + 4e-4 / noise**2 + 0.01 * rng.standard_normal(noise.size)  # unexplained signal / noise^2
    summary = range_summary(chi2, noise, (0.005, 0.995))
    assert len(summary["bins"]) == 6 and sum(b["n"] for b in summary["bins"]) == 600  # 100 maps per bin
    levels = np.linspace(0, 1, 100)
    cal = Calibration(levels=levels[1:-1], quantiles={"all": levels[1:-1]}, n_pixels={}, n_maps=600,
                      edge_pixels=2, score="abs_residual", chi2dof=summary)
    deep_chi2 = 1.0 + 4e-4 / 0.022**2
    assert cal.data_ok(deep_chi2, 0.022) and not cal.data_ok(deep_chi2, 0.15), \
        "a deep map's chi2 is fine at its depth and a warning at a shallow one"
    assert cal.data_ok(1.0 + 4e-4 / 0.15**2, 0.15) and cal.data_ok(1.0 + 4e-4 / 0.15**2, None)
    assert not cal.data_ok(1.5, 0.15) and not cal.data_ok(float("nan"), 0.15)


def test_pixel_classes():
    mask = np.ones((16, 16))
    mask[6:9, 6:9] = 0
    mask[0, 5] = 0
    classes = pixel_classes(mask, 2)
    assert classes[7, 7] == 1 and classes[4, 4] == 0 and classes[0, 5] == 2 and classes[1, 8] == 2
    assert np.sum(classes == 2) == 16 * 16 - 12 * 12


def test_b_to_e_check_is_one_sided():
    """More large-scale B than the calibration maps had flags the data; less does not."""
    from miu2net.nn.calibration import range_summary

    rng = np.random.default_rng(8)
    noise = np.exp(rng.uniform(np.log(0.02), np.log(0.2), 300))
    chi2 = 1.0 + 0.01 * rng.standard_normal(noise.size)
    ratio = 0.3 + 5.0 * noise + 0.02 * rng.standard_normal(noise.size)  # B/E rises with the noise
    levels = np.linspace(0, 1, 100)
    cal = Calibration(levels=levels[1:-1], quantiles={"all": levels[1:-1]}, n_pixels={}, n_maps=300,
                      edge_pixels=2, score="abs_residual", chi2dof=range_summary(chi2, noise, (0.005, 0.995)),
                      bmode=range_summary(ratio, noise, (0.005, 0.995)))
    lo, hi = cal.b_range(0.05)
    assert cal.data_ok(1.0, 0.05, b_ratio=0.5 * lo)
    assert not cal.data_ok(1.0, 0.05, b_ratio=1.2 * hi)
    assert "B/E power" in cal.problems(1.0, 0.05, b_ratio=1.2 * hi)[0]
    assert cal.data_ok(1.0, 0.05) and not cal.data_ok(1.5, 0.05, b_ratio=0.5 * lo)
    # A calibration stored before the B/E check existed still reads and judges on CHI2DOF alone.
    old = Calibration.from_dict({**cal.to_dict(), "bmode": None})
    assert old.b_range(0.05) is None and old.data_ok(1.0, 0.05, b_ratio=10.0)


def test_sigma_uses_the_quantiles_of_the_maps_noise_level():
    levels = np.asarray(LEVELS)
    one = levels * 0 + 1.0
    cal = Calibration(levels=levels, quantiles={"all": one, "observed": one, "masked": one, "edge": one,
                                                "observed@0": 0.5 * one, "observed@1": 2.0 * one, "masked@1": None},
                      n_pixels={}, n_maps=400, edge_pixels=2, score="abs_residual_over_sigma", chi2dof={"range": [0, 2]},
                      noise_edges=[0.1])
    mask = np.ones((16, 16))
    mask[8, 8] = 0
    deep = cal.half_width(np.ones((16, 16)), mask, 0.68, noise=np.full((16, 16), 0.05))
    shallow = cal.half_width(np.ones((16, 16)), mask, 0.68, noise=np.full((16, 16), 0.2))
    assert deep[5, 5] == 0.5 and shallow[5, 5] == 2.0
    assert deep[8, 8] == 1.0 and shallow[8, 8] == 1.0, "a bin-class without a table falls back to the class"
    assert cal.half_width(np.ones((16, 16)), mask, 0.68)[5, 5] == 1.0  # no noise map: the class's table
    back = Calibration.from_dict(cal.to_dict())
    assert back.noise_edges == [0.1]
    np.testing.assert_array_equal(back.half_width(np.ones((16, 16)), mask, 0.68, noise=np.full((16, 16), 0.2)),
                                  shallow)


def test_interval_coverage_on_gaussian_residuals_is_nominal_within_sampling_error():
    """Calibrate |r| / sigma on 5000 Gaussian residuals, test on 20000 fresh ones: the empirical coverage
    of q_c * sigma is c within 4 binomial standard errors (plus the 1/(n+1) of the finite-sample rule)."""
    rng = np.random.default_rng(12)
    sigma_cal = rng.uniform(0.01, 0.05, 5000)
    scores = np.abs(sigma_cal * rng.standard_normal(5000)) / sigma_cal
    levels = [0.5, 0.68, 0.9, 0.95]
    q = conformal_quantiles(scores, levels)
    sigma = rng.uniform(0.01, 0.05, 20000)
    fresh = sigma * rng.standard_normal(20000)
    for c, qc in zip(levels, q):
        coverage = np.mean(np.abs(fresh) <= qc * sigma)
        # the calibration quantile's own scatter, sqrt(c(1-c)/n_cal), dominates
        error = np.sqrt(c * (1 - c) / 5000) + np.sqrt(c * (1 - c) / 20000)
        assert abs(coverage - c) < 4 * error + 1 / 5001, f"coverage {coverage:.4f} at nominal {c}"


def test_conformal_quantiles_need_scores():
    with pytest.raises(InputError, match="no calibration scores"):
        conformal_quantiles(np.array([]), [0.9])
    np.testing.assert_array_equal(conformal_quantiles(np.array([[3.0, 1.0], [2.0, 4.0]]), [0.2, 0.6]), [1.0, 3.0])


def _calibration(**changes):
    levels = np.asarray(LEVELS)
    base = {"levels": levels, "quantiles": {"all": 1.0 + levels, "observed": 2.0 * levels + 1,
                                            "masked": 3.0 + 0 * levels, "edge": None},
            "n_pixels": {"all": 4000}, "n_maps": 200, "edge_pixels": 2, "score": "abs_residual_over_sigma",
            "chi2dof": {"range": [0.9, 1.1]}}
    base.update(changes)
    return Calibration(**base)


def test_half_width_per_pixel_class_and_coverage_grid():
    cal = _calibration()
    mask = np.ones((8, 8))
    mask[4, 4] = 0
    width = cal.half_width(np.full((8, 8), 0.5), mask, coverage=0.5)
    assert width[3, 3] == pytest.approx(0.5 * 2.0), "observed: q(0.5) = 2"
    assert width[4, 4] == pytest.approx(0.5 * 3.0), "masked: its own table"
    assert width[0, 0] == pytest.approx(0.5 * 1.5), "edge without a table: the overall one"
    assert cal.quantile(0.685) == pytest.approx(1.685), "interpolated between grid levels"
    with pytest.raises(InputError, match=r"coverage must lie in \[0.01, 0.999\]"):
        cal.quantile(0.9995)
    assert cal.half_width(None, mask, 0.5)[3, 3] == pytest.approx(2.0), "no spread channel: the quantile itself"


def test_chi2_range_with_margin_and_data_ok():
    cal = _calibration(chi2dof={"range": [0.9, 1.1], "margin": 0.5})
    assert cal.chi2_range() == pytest.approx((0.8, 1.2))
    assert cal.data_ok(1.15) and not cal.data_ok(1.25) and not cal.data_ok(float("inf"))
    with pytest.warns(UserWarning, match="CHI2DOF = 1.3 outside"):
        assert not cal.check(1.3, None, np.ones((4, 4)))


def test_median_noise_of_observed_finite_pixels():
    noise = np.array([[0.1, 0.2], [np.inf, 0.4]])
    mask = np.array([[1, 1], [1, 0]])
    assert median_noise(noise, mask) == pytest.approx(0.15)
    assert median_noise(None, mask) is None and median_noise(np.zeros((2, 2)), mask) is None


def test_json_round_trip_and_unreadable_entries():
    cal = _calibration(noise_edges=[0.05])
    back = Calibration.from_dict(cal.to_dict())
    np.testing.assert_array_equal(back.levels, cal.levels)
    np.testing.assert_array_equal(back.quantiles["observed"], cal.quantiles["observed"])
    assert back.quantiles["edge"] is None and back.noise_edges == [0.05] and back.n_maps == 200
    with pytest.raises(InputError, match="calibration entry is not readable"):
        Calibration.from_dict({**cal.to_dict(), "method": "bootstrap"})
    with pytest.raises(InputError, match="recalibrate"):
        Calibration.from_dict({"method": "split-conformal"})


def test_range_summary_quantiles_and_bins():
    rng = np.random.default_rng(4)
    values = rng.standard_normal(1000)
    noise = np.full(1000, 0.1)
    summary = range_summary(values, noise, (0.05, 0.95))
    assert summary["range"] == pytest.approx([np.quantile(values, 0.05), np.quantile(values, 0.95)])
    assert summary["bins"] == [], "one noise level: no bins"
