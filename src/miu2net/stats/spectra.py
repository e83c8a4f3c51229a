r"""Angular power and cross spectra of flat maps, with explicit binning in :math:`\ell`.

Normalisation. For a map of :math:`N_y \times N_x` pixels of side :math:`\Delta` (radians), area
:math:`A = N_x N_y \Delta^2`, the Fourier transform is :math:`\hat\kappa(\ell) = \Delta^2 \sum \kappa\,
e^{-i \ell\cdot\theta}` and the estimator is :math:`\hat C_\ell = \langle \mathrm{Re}\,\hat a(\ell)
\hat b^*(\ell)\rangle / A`, averaged over the modes of a bin. For a Gaussian field with power spectrum
:math:`C_\ell` this is unbiased: its mean over realisations is the mode average of :math:`C_\ell` over the
bin (tested in ``tests/test_spectra.py``). :math:`\ell` is in inverse radians, :math:`|\ell| = 2\pi |k|`
with :math:`k` the FFT frequency in cycles per radian; the :math:`\ell = 0` mode is never used. No
correction is made for masks or apodisation: pass unmasked maps (or compare like with like).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ARCMIN_TO_RAD = np.pi / (180.0 * 60.0)


@dataclass(frozen=True)
class Spectrum:
    """A binned spectrum.

    Attributes:
        ell: mean :math:`|\\ell|` of the modes in each bin (inverse radians).
        cl: binned :math:`C_\\ell` (dimensionless per steradian for a dimensionless map).
        n_modes: number of Fourier modes (grid points, both half-planes) in each bin.
        ell_edges: the bin edges, length ``len(ell) + 1``; bins are ``[lo, hi)``.
    """

    ell: np.ndarray
    cl: np.ndarray
    n_modes: np.ndarray
    ell_edges: np.ndarray


def ell_grid(shape: tuple[int, int], pixel_arcmin: float) -> np.ndarray:
    """:math:`|\\ell|` (inverse radians) of every FFT mode of a map of ``shape`` and pixel side ``pixel_arcmin``."""
    d = pixel_arcmin * ARCMIN_TO_RAD
    ly = 2 * np.pi * np.fft.fftfreq(shape[0], d=d)
    lx = 2 * np.pi * np.fft.fftfreq(shape[1], d=d)
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


def cross_spectrum(
    map_a: np.ndarray,
    map_b: np.ndarray | None,
    pixel_arcmin: float,
    *,
    ell_edges: np.ndarray | None = None,
    n_bins: int = 20,
) -> Spectrum:
    """Binned cross spectrum of two maps of the same shape (their auto spectrum when ``map_b`` is None).

    Maps may carry leading batch axes ``[..., ny, nx]``; the spectrum is then averaged over them.
    """
    a = np.asarray(map_a, dtype=np.float64)
    b = a if map_b is None else np.asarray(map_b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"maps differ in shape: {a.shape} vs {b.shape}")
    shape = a.shape[-2:]
    bins = spectrum_bins(shape, pixel_arcmin, ell_edges=ell_edges, n_bins=n_bins)
    d = pixel_arcmin * ARCMIN_TO_RAD
    area = shape[0] * shape[1] * d**2
    fa = np.fft.fft2(a) * d**2
    fb = fa if map_b is None else np.fft.fft2(b) * d**2
    power = ((fa * np.conj(fb)).real / area).reshape(-1, shape[0] * shape[1]).mean(axis=0)
    n_out = len(bins.ell_edges) - 1
    sum_cl = np.bincount(bins.which, weights=power[bins.index], minlength=n_out)[:n_out]
    with np.errstate(invalid="ignore", divide="ignore"):
        return Spectrum(ell=bins.ell, cl=sum_cl / bins.n_modes, n_modes=bins.n_modes, ell_edges=bins.ell_edges)


def power_spectrum(
    kappa: np.ndarray, pixel_arcmin: float, *, ell_edges: np.ndarray | None = None, n_bins: int = 20
) -> Spectrum:
    """Binned auto power spectrum :math:`C_\\ell` of a map (see the module docstring for the normalisation)."""
    return cross_spectrum(kappa, None, pixel_arcmin, ell_edges=ell_edges, n_bins=n_bins)


def binned_model(
    cl_of_ell, shape: tuple[int, int], pixel_arcmin: float, ell_edges: np.ndarray
) -> np.ndarray:
    """The expectation of the estimator for a field of power ``cl_of_ell(ell)``: its mean over each bin's modes."""
    bins = spectrum_bins(shape, pixel_arcmin, ell_edges=ell_edges)
    ell = ell_grid(shape, pixel_arcmin).ravel()[bins.index]
    n_out = len(bins.ell_edges) - 1
    sums = np.bincount(bins.which, weights=cl_of_ell(ell), minlength=n_out)[:n_out]
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / bins.n_modes


def correlation_coefficient(
    map_a: np.ndarray, map_b: np.ndarray, pixel_arcmin: float, *, ell_edges: np.ndarray | None = None, n_bins: int = 20
) -> tuple[np.ndarray, np.ndarray]:
    """Cross-correlation coefficient :math:`r(\\ell) = C^{ab}_\\ell / \\sqrt{C^{aa}_\\ell C^{bb}_\\ell}` per bin.

    Returns ``(ell, r)``. r = 1 for identical maps (up to a positive factor), 0 for independent ones.
    """
    cab = cross_spectrum(map_a, map_b, pixel_arcmin, ell_edges=ell_edges, n_bins=n_bins)
    caa = cross_spectrum(map_a, None, pixel_arcmin, ell_edges=cab.ell_edges)
    cbb = cross_spectrum(map_b, None, pixel_arcmin, ell_edges=cab.ell_edges)
    with np.errstate(invalid="ignore", divide="ignore"):
        return cab.ell, cab.cl / np.sqrt(caa.cl * cbb.cl)


def largest_ell_within(ell: np.ndarray, ratio: np.ndarray, tolerance: float = 0.04, *, ell_min: float = 0.0) -> float:
    """The largest bin ℓ up to which |ratio - 1| < ``tolerance`` holds in every bin from ``ell_min`` up.

    ``ratio`` is a reconstruction's binned C_ℓ over the truth's (e.g. of the spectra averaged over test
    maps). Returns 0 when the first bin at or above ``ell_min`` already fails, and ignores empty bins.
    """
    ell = np.asarray(ell, dtype=np.float64)
    ratio = np.asarray(ratio, dtype=np.float64)
    best = 0.0
    for e, r in zip(ell, ratio):
        if not np.isfinite(e) or e < ell_min or not np.isfinite(r):
            continue
        if abs(r - 1.0) >= tolerance:
            break
        best = float(e)
    return best
