"""Statistics that judge a map: spectra, cross-correlation, RMSE, Pearson r, smoothing."""

from miu2net.stats.metrics import gaussian_smooth, pearson_r, rmse
from miu2net.stats.spectra import (
    Spectrum,
    binned_model,
    correlation_coefficient,
    cross_spectrum,
    default_ell_edges,
    ell_grid,
    power_spectrum,
)

__all__ = [
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
]
