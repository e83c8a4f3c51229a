"""One-point statistics of convergence maps: the binned PDF and its moments."""

from __future__ import annotations

import numpy as np


def kappa_pdf(kappa: np.ndarray, edges: np.ndarray, *, mask: np.ndarray | None = None) -> np.ndarray:
    """Probability density of pixel values in bins ``edges`` (integrates to the fraction inside the range)."""
    values = np.asarray(kappa, dtype=np.float64)
    if mask is not None:
        values = values[np.broadcast_to(np.asarray(mask) > 0, values.shape)]
    values = values.ravel()
    counts = np.histogram(values, bins=edges)[0]
    return counts / (len(values) * np.diff(edges))


def skewness(kappa: np.ndarray) -> float:
    """Sample skewness <(k - <k>)^3> / sigma^3 of the pixel values."""
    values = np.asarray(kappa, dtype=np.float64).ravel()
    centred = values - values.mean()
    sigma = centred.std()
    return float(np.mean(centred**3) / sigma**3) if sigma > 0 else float("nan")
