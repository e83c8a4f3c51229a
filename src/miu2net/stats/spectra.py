r"""Angular power and cross spectra of flat maps, with explicit binning in :math:`\ell`.

Normalisation. For a map of :math:`N_y \times N_x` pixels of side :math:`\Delta` (radians), area
:math:`A = N_x N_y \Delta^2`, the Fourier transform is :math:`\hat\kappa(\ell) = \Delta^2 \sum \kappa\,
e^{-i \ell\cdot\theta}` and the estimator is :math:`\hat C_\ell = \langle \mathrm{Re}\,\hat a(\ell)
\hat b^*(\ell)\rangle / A`, averaged over the modes of a bin. For a Gaussian field with power spectrum
:math:`C_\ell` this is unbiased: its mean over realisations is the mode average of :math:`C_\ell` over the
bin (tested in ``tests/stats/test_spectra.py``). :math:`\ell` is in inverse radians, :math:`|\ell| = 2\pi |k|`
with :math:`k` the FFT frequency in cycles per radian; the :math:`\ell = 0` mode is never used. No
correction is made for masks or apodisation: pass unmasked maps (or compare like with like).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The Fourier grid and its binning live in the physics layer; re-exported here for the estimator's users.
from miu2net.physics.fourier import SpectrumBins, default_ell_edges, ell_grid, spectrum_bins  # noqa: F401
from miu2net.physics.units import ARCMIN_TO_RAD  # noqa: F401


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
