r"""The Fourier grid of a flat map: wave numbers :math:`\ell` and their binning.

:math:`\ell` is in inverse radians, :math:`\ell = 2\pi k` with :math:`k` the FFT frequency in cycles per
radian, on the grid of ``numpy.fft.fft2`` of a map ``[y, x]`` with square pixels of side
``pixel_arcmin``: :math:`\ell_1` (x) varies along the last axis and :math:`\ell_2` (y) along the first.
The binning (:func:`spectrum_bins`) is the one every power spectrum of the package uses (the
estimator in :mod:`miu2net.stats.spectra`, the spectrum term of the training loss).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from miu2net.physics.units import ARCMIN_TO_RAD


def ell_components(shape: tuple[int, int], pixel_arcmin: float) -> tuple[np.ndarray, np.ndarray]:
    """``(ell_y, ell_x)``: the 1-D wave numbers (inverse radians) along y (axis 0) and x (axis 1)."""
    d = pixel_arcmin * ARCMIN_TO_RAD
    return 2 * np.pi * np.fft.fftfreq(shape[0], d=d), 2 * np.pi * np.fft.fftfreq(shape[1], d=d)


def ell_grid(shape: tuple[int, int], pixel_arcmin: float) -> np.ndarray:
    """:math:`|\\ell|` (inverse radians) of every FFT mode of a map of ``shape`` and pixel side ``pixel_arcmin``."""
    ly, lx = ell_components(shape, pixel_arcmin)
    return np.hypot(ly[:, None], lx[None, :])


def default_ell_edges(shape: tuple[int, int], pixel_arcmin: float, *, n_bins: int = 20) -> np.ndarray:
    """Logarithmic bins from the fundamental mode :math:`2\\pi/L` to the Nyquist mode :math:`\\pi/\\Delta`.

    Bins narrower than the fundamental mode (which would hold no mode) are merged with the next, so
    fewer than ``n_bins`` bins may come back on small maps.
    """
    d = pixel_arcmin * ARCMIN_TO_RAD
    ell_fund = 2 * np.pi / (max(shape) * d)
    ell_max = np.pi / d
    # The first edge sits just below the fundamental mode: 2 pi fftfreq can round a hair below
    # 2 pi / L, and the fundamental modes must not fall out of the first bin.
    edges = [ell_fund * (1 - 1e-9)]
    for edge in np.geomspace(ell_fund, ell_max, n_bins + 1)[1:]:
        if edge - edges[-1] >= ell_fund or edge == ell_max:
            edges.append(edge)
    if len(edges) > 2 and edges[-1] - edges[-2] < ell_fund:
        del edges[-2]
    return np.array(edges)


@dataclass(frozen=True)
class SpectrumBins:
    """Bin assignment of the FFT modes of a map, as :func:`miu2net.stats.spectra.cross_spectrum` does it.

    Attributes:
        ell_edges: bin edges (inverse radians); bins are ``[lo, hi)``.
        index: flat indices (into the ``ny * nx`` FFT grid) of the modes used (ell > 0, inside the edges).
        which: bin of each of those modes.
        n_modes: modes per bin.
        ell: mean :math:`|\\ell|` of each bin's modes.
    """

    ell_edges: np.ndarray
    index: np.ndarray
    which: np.ndarray
    n_modes: np.ndarray
    ell: np.ndarray


def spectrum_bins(
    shape: tuple[int, int], pixel_arcmin: float, *, ell_edges: np.ndarray | None = None, n_bins: int = 20
) -> SpectrumBins:
    """The modes and bins of the C_ell estimator for maps of ``shape`` (same edges and digitisation)."""
    shape = (int(shape[0]), int(shape[1]))
    edges = default_ell_edges(shape, pixel_arcmin, n_bins=n_bins) if ell_edges is None else np.asarray(ell_edges)
    ell = ell_grid(shape, pixel_arcmin).ravel()
    which = np.digitize(ell, edges) - 1
    n_out = len(edges) - 1
    valid = (which >= 0) & (which < n_out) & (ell > 0)
    index = np.flatnonzero(valid)
    n_modes = np.bincount(which[valid], minlength=n_out)[:n_out]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_ell = np.bincount(which[valid], weights=ell[valid], minlength=n_out)[:n_out] / n_modes
    return SpectrumBins(ell_edges=edges, index=index, which=which[valid], n_modes=n_modes, ell=mean_ell)
