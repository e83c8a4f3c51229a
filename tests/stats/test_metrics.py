"""The evaluation metrics on cases with known answers."""

import numpy as np
import pytest

from miu2net.sims.fields import gaussian_field
from miu2net.stats import (
    correlation_coefficient,
    find_peaks,
    gaussian_smooth,
    kappa_pdf,
    largest_ell_within,
    match_peaks,
    peak_counts,
    pearson_r,
    power_spectrum,
    rmse,
    skewness,
)


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


def test_shifted_peak_offset_measured_back():
    yy, xx = np.mgrid[0:64, 0:64]

    def blob(y0, x0):
        return np.exp(-((yy - y0) ** 2 + (xx - x0) ** 2) / (2 * 2.0**2))

    true = find_peaks(blob(30.0, 20.0), threshold=0.5)
    detected = find_peaks(0.8 * blob(32.0, 22.0), threshold=0.3)
    match = match_peaks(true, detected, max_distance=4)
    assert match.n_matched == 1 and match.completeness == 1.0
    np.testing.assert_allclose(match.offset_pix[0], np.hypot(2, 2), atol=0.05, err_msg="peak centroid offset not measured back")
    np.testing.assert_allclose(match.amplitude_ratio[0], 0.8, rtol=1e-6)
    assert match_peaks(true, detected, max_distance=1).n_matched == 0


def test_peak_counts_and_pdf(rng):
    snr = np.zeros((40, 40))
    snr[10, 10], snr[20, 25], snr[30, 5] = 3.5, 5.0, 1.0
    np.testing.assert_array_equal(peak_counts(snr, np.array([0.5, 3.0, 4.0, 6.0])), [1, 1, 1])
    values = rng.standard_normal((200, 200))
    edges = np.linspace(-5, 5, 41)
    pdf = kappa_pdf(values, edges)
    np.testing.assert_allclose(np.sum(pdf * np.diff(edges)), 1.0, atol=1e-4)
    centres = 0.5 * (edges[1:] + edges[:-1])
    np.testing.assert_allclose(pdf, np.exp(-centres**2 / 2) / np.sqrt(2 * np.pi), atol=0.02)
    assert abs(skewness(values)) < 0.05 and skewness(np.exp(values)) > 1


def test_smoothing_preserves_mean_and_reduces_variance(field):
    smooth = gaussian_smooth(field + 1.0, sigma_arcmin=2.0, pixel_arcmin=1.0)
    assert smooth.mean() == pytest.approx(field.mean() + 1.0, abs=1e-3)
    assert smooth.std() < field.std()
    batch = gaussian_smooth(np.stack([field, field]), sigma_arcmin=2.0, pixel_arcmin=1.0)
    np.testing.assert_allclose(batch[1], smooth - 1.0, atol=1e-12)
