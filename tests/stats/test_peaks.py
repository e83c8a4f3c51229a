"""Peaks: detection of planted peaks, counts by S/N, borders, plateaus, and matching to true peaks."""

import numpy as np
import pytest

from miu2net.stats.peaks import find_peaks, match_peaks, peak_counts


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


def test_peak_counts_per_snr_bin():
    snr = np.zeros((40, 40))
    snr[10, 10], snr[20, 25], snr[30, 5] = 3.5, 5.0, 1.0
    np.testing.assert_array_equal(peak_counts(snr, np.array([0.5, 3.0, 4.0, 6.0])), [1, 1, 1])


def _gaussian_blob(shape, y0, x0, sigma, height=1.0):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return height * np.exp(-((yy - y0) ** 2 + (xx - x0) ** 2) / (2 * sigma**2))


def test_a_planted_gaussian_peak_is_found_at_its_pixel_and_height():
    kappa = _gaussian_blob((48, 48), 17, 30, 2.5, height=0.07) + _gaussian_blob((48, 48), 35, 10, 2.0, height=0.04)
    peaks = find_peaks(kappa, threshold=0.01)
    assert len(peaks) == 2
    assert (peaks.y[0], peaks.x[0]) == (17, 30) and (peaks.y[1], peaks.x[1]) == (35, 10), "sorted by height"
    np.testing.assert_allclose(peaks.height, [0.07, 0.04], rtol=1e-3)
    np.testing.assert_allclose([peaks.y_sub[0], peaks.x_sub[0]], [17.0, 30.0], atol=1e-9)


def test_sub_pixel_position_of_an_offset_peak():
    """A blob centred between pixels: the parabola vertex lands near the true centre (well under a pixel)."""
    peaks = find_peaks(_gaussian_blob((32, 32), 15.3, 20.6, 3.0))
    assert len(peaks) == 1 and (peaks.y[0], peaks.x[0]) == (15, 21)
    assert peaks.y_sub[0] == pytest.approx(15.3, abs=0.05) and peaks.x_sub[0] == pytest.approx(20.6, abs=0.05)


def test_threshold_border_and_plateaus():
    kappa = np.zeros((20, 20))
    kappa[0, 10] = 5.0  # on the border
    kappa[3, 4] = 2.0  # two pixels from the border
    kappa[10, 10:13] = 1.0  # a plateau of three equal pixels
    peaks = find_peaks(kappa, threshold=0.5)
    assert min(zip(peaks.y.tolist(), peaks.x.tolist())) == (3, 4)
    assert len(peaks) == 2, "the border pixel is no peak and a plateau gives one peak"
    assert len(find_peaks(kappa, threshold=0.5, border=4)) == 1, "border=4 drops the peak at row 3"
    assert len(find_peaks(kappa, threshold=1.5)) == 1
    assert len(find_peaks(np.zeros((10, 10)), threshold=0.0)) == 0


def test_matching_is_one_to_one():
    true = find_peaks(_gaussian_blob((40, 40), 10, 10, 2.0) + _gaussian_blob((40, 40), 11, 30, 2.0, 0.9))
    detected = find_peaks(_gaussian_blob((40, 40), 10, 11, 2.0))
    match = match_peaks(true, detected, max_distance=3)
    assert match.n_true == 2 and match.n_matched == 1 and match.completeness == 0.5
    np.testing.assert_allclose(match.offset_pix, [1.0], atol=0.05)
    empty = match_peaks(true, find_peaks(np.zeros((40, 40)), threshold=1.0))
    assert empty.n_matched == 0 and empty.completeness == 0.0
    assert np.isnan(match_peaks(find_peaks(np.zeros((8, 8)), threshold=1.0), detected).completeness)
