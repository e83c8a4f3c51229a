"""The evaluation metrics on cases with known answers (peaks, the PDF and smoothing: their own modules' tests)."""

import numpy as np
import pytest

from miu2net.sims.fields import gaussian_field
from miu2net.stats import correlation_coefficient, largest_ell_within, pearson_r, power_spectrum, rmse


@pytest.fixture
def field(rng):
    return gaussian_field((64, 64), 1.0, lambda ell: 1e-9 * (ell / 1e3) ** -1.0, rng)


def test_identical_maps_and_known_offsets(field):
    assert rmse(field, field) == 0.0
    assert rmse(field + 0.25, field) == pytest.approx(0.25), "a constant offset of 0.25 is an RMSE of 0.25"
    assert pearson_r(field, field) == pytest.approx(1.0)
    assert pearson_r(-field, field) == pytest.approx(-1.0)
    spec = power_spectrum(field, 1.0)
    flat = power_spectrum(np.ones_like(field), 1.0)
    assert np.all(np.abs(flat.cl) < 1e-20 * np.max(spec.cl) + 1e-30), "a constant map has no power at l > 0"
    ratio = np.full_like(spec.cl, 1.0)
    ratio[-1] = 1.5
    assert largest_ell_within(spec.ell, ratio) == pytest.approx(spec.ell[-2]), "stops before the failing last bin"


def test_scaled_map(field):
    spec, spec2 = power_spectrum(field, 1.0), power_spectrum(2 * field, 1.0)
    np.testing.assert_allclose(spec2.cl / spec.cl, 4.0, rtol=1e-12, err_msg="doubling a map must quadruple C_ell")
    assert pearson_r(2 * field, field) == pytest.approx(1.0)
    np.testing.assert_allclose(correlation_coefficient(2 * field, field, 1.0)[1], 1.0)
    assert rmse(2 * field, field) == pytest.approx(np.sqrt(np.mean(field**2)))
    assert largest_ell_within(spec.ell, spec2.cl / spec.cl) == 0.0


def test_largest_ell_stops_at_first_failing_bin():
    ell = np.array([100.0, 200.0, 400.0, 800.0])
    assert largest_ell_within(ell, np.array([1.01, 0.97, 1.05, 1.0])) == 200.0
    assert largest_ell_within(ell, np.array([1.2, 1.0, 1.0, 1.0]), ell_min=150) == 800.0
