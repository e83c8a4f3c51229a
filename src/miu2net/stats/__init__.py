"""Statistics that judge a map: spectra, cross-correlation, RMSE, Pearson r, smoothing."""

from miu2net.stats.metrics import gaussian_smooth, pearson_r, rmse, rmse_centred
from miu2net.stats.pdf import kappa_pdf, skewness
from miu2net.stats.peaks import Peaks, PeakMatch, find_peaks, match_peaks, peak_counts
from miu2net.stats.spectra import (
    Spectrum,
    binned_model,
    correlation_coefficient,
    cross_spectrum,
    default_ell_edges,
    ell_grid,
    largest_ell_within,
    power_spectrum,
)

__all__ = [
    "PeakMatch",
    "Peaks",
    "find_peaks",
    "kappa_pdf",
    "largest_ell_within",
    "match_peaks",
    "peak_counts",
    "skewness",
    "Spectrum",
    "binned_model",
    "correlation_coefficient",
    "cross_spectrum",
    "default_ell_edges",
    "ell_grid",
    "gaussian_smooth",
    "pearson_r",
    "power_spectrum",
    "rmse",
    "rmse_centred",
]
