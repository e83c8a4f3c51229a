r"""Peaks of convergence maps: detection, counts by S/N, and matching to true peaks.

A peak is a pixel higher than its 8 neighbours (ties broken by a tiny position-dependent offset so
plateaus give one peak), away from the map border by ``border`` pixels. Matching pairs each true peak
with the nearest detected peak within ``max_distance`` pixels (one-to-one, greedy from the highest true
peak); the centroid offset is measured with a sub-pixel quadratic fit of each matched peak.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class Peaks:
    """Peaks of a map: integer positions ``y``, ``x``, sub-pixel positions and heights."""

    y: np.ndarray
    x: np.ndarray
    y_sub: np.ndarray
    x_sub: np.ndarray
    height: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


def _subpixel(kappa: np.ndarray, y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertex of a 1-D parabola through each peak and its two neighbours, per axis."""

    def offset(minus, centre, plus):
        denom = minus - 2 * centre + plus
        with np.errstate(invalid="ignore", divide="ignore"):
            d = np.where(denom < 0, 0.5 * (minus - plus) / denom, 0.0)
        return np.clip(d, -0.5, 0.5)

    dy = offset(kappa[y - 1, x], kappa[y, x], kappa[y + 1, x])
    dx = offset(kappa[y, x - 1], kappa[y, x], kappa[y, x + 1])
    return y + dy, x + dx


def find_peaks(kappa: np.ndarray, *, threshold: float = -np.inf, border: int = 1) -> Peaks:
    """Local maxima of ``kappa`` above ``threshold``, at least ``border`` (>= 1) pixels from the edge."""
    kappa = np.asarray(kappa, dtype=np.float64)
    border = max(int(border), 1)
    ny, nx = kappa.shape
    tie = 1e-12 * (np.abs(kappa).max() + 1e-30) * np.add.outer(np.arange(ny) * nx, np.arange(nx)) / kappa.size
    work = kappa + tie
    is_max = work == ndimage.maximum_filter(work, size=3, mode="nearest")
    is_max &= kappa > threshold
    is_max[:border, :] = is_max[-border:, :] = False
    is_max[:, :border] = is_max[:, -border:] = False
    y, x = np.nonzero(is_max)
    order = np.argsort(-kappa[y, x])
    y, x = y[order], x[order]
    y_sub, x_sub = _subpixel(kappa, y, x)
    return Peaks(y=y, x=x, y_sub=y_sub, x_sub=x_sub, height=kappa[y, x])


def peak_counts(snr_map: np.ndarray, snr_edges: np.ndarray, *, border: int = 1) -> np.ndarray:
    """Number of peaks of an S/N map in each S/N bin ``[lo, hi)``."""
    peaks = find_peaks(snr_map, threshold=float(np.min(snr_edges)), border=border)
    return np.histogram(peaks.height, bins=snr_edges)[0]


@dataclass(frozen=True)
class PeakMatch:
    """Matched peak pairs: offsets (pixels) and amplitude ratios (detected / true), plus completeness."""

    offset_pix: np.ndarray
    amplitude_ratio: np.ndarray
    n_true: int
    n_matched: int

    @property
    def completeness(self) -> float:
        return self.n_matched / self.n_true if self.n_true else float("nan")


def match_peaks(true: Peaks, detected: Peaks, *, max_distance: float = 3.0) -> PeakMatch:
    """Pair each true peak with the nearest unused detected peak within ``max_distance`` pixels."""
    used = np.zeros(len(detected), dtype=bool)
    offsets, ratios = [], []
    for i in range(len(true)):
        if not len(detected):
            break
        d = np.hypot(detected.y_sub - true.y_sub[i], detected.x_sub - true.x_sub[i])
        d[used] = np.inf
        j = int(np.argmin(d))
        if d[j] <= max_distance:
            used[j] = True
            offsets.append(d[j])
            ratios.append(detected.height[j] / true.height[i] if true.height[i] != 0 else np.nan)
    return PeakMatch(offset_pix=np.array(offsets), amplitude_ratio=np.array(ratios), n_true=len(true),
                     n_matched=len(offsets))
