"""Pixel-space comparison of a reconstruction with the truth: RMSE, Pearson r (and Gaussian smoothing,
re-exported from :mod:`miu2net.physics.smoothing`)."""

from __future__ import annotations

import numpy as np

from miu2net.physics.smoothing import gaussian_smooth  # noqa: F401  (re-exported: smoothing is physics-layer)


def _select(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"maps differ in shape: {a.shape} vs {b.shape}")
    if mask is None:
        return a.ravel(), b.ravel()
    keep = np.broadcast_to(np.asarray(mask) > 0, a.shape)
    return a[keep], b[keep]


def rmse(reconstruction: np.ndarray, truth: np.ndarray, *, mask: np.ndarray | None = None) -> float:
    """Root-mean-square difference over all pixels (or those where ``mask`` > 0)."""
    a, b = _select(reconstruction, truth, mask)
    return float(np.sqrt(np.mean((a - b) ** 2)))


def rmse_centred(reconstruction: np.ndarray, truth: np.ndarray) -> float:
    """:func:`rmse` after removing each map's mean (the mass sheet is not measurable from shear), as the
    benchmark protocol takes it."""
    a = np.asarray(reconstruction, dtype=np.float64)
    b = np.asarray(truth, dtype=np.float64)
    return rmse(a - a.mean(), b - b.mean())


def pearson_r(reconstruction: np.ndarray, truth: np.ndarray, *, mask: np.ndarray | None = None) -> float:
    """Pearson correlation coefficient of the pixel values (1 for maps equal up to a positive scale and offset)."""
    a, b = _select(reconstruction, truth, mask)
    a = a - a.mean()
    b = b - b.mean()
    denom = np.sqrt(np.sum(a * a) * np.sum(b * b))
    return float(np.sum(a * b) / denom) if denom > 0 else float("nan")
