"""Gaussian smoothing of maps, the one smoothing every method, statistic and figure uses.

Scales are Gaussian standard deviations (not FWHM) in arcmin.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def gaussian_smooth(kappa: np.ndarray, *, sigma_arcmin: float, pixel_arcmin: float, mode: str = "reflect") -> np.ndarray:
    """Convolve a map ``[..., y, x]`` with a Gaussian of standard deviation ``sigma_arcmin`` (not FWHM).

    ``mode`` is scipy.ndimage's boundary handling; the default reflects the map at its edges, which
    suits non-periodic fields. ``sigma_arcmin = 0`` returns a copy.
    """
    kappa = np.asarray(kappa, dtype=np.float64)
    if sigma_arcmin < 0:
        raise ValueError(f"sigma_arcmin must be >= 0; got {sigma_arcmin}")
    if sigma_arcmin == 0:
        return kappa.copy()
    sigma_pix = sigma_arcmin / pixel_arcmin
    sigmas = (0,) * (kappa.ndim - 2) + (sigma_pix, sigma_pix)
    return ndimage.gaussian_filter(kappa, sigma=sigmas, mode=mode)
