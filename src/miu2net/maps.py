"""Map types: gridded shear in, convergence out. They carry geometry; the physics takes plain arrays.

Both types hold 2-D float arrays indexed ``[y, x]`` with square pixels of side ``pixel_arcmin``. Shear
components are defined on the map's own axes: ``g1 > 0`` stretches along x (axis 1), ``g2 > 0`` along
the diagonal x = y. The optional ``wcs`` (an ``astropy.wcs.WCS``, celestial) ties the grid to the sky.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from miu2net.errors import InputError


def _as_map(name: str, array: Any, shape: tuple[int, int] | None = None) -> np.ndarray:
    data = np.asarray(array, dtype=np.float64)
    if data.ndim != 2:
        raise InputError(f"{name} must be a 2-D map [y, x]; got an array of shape {data.shape}")
    if data.size == 0:
        raise InputError(f"{name} is empty (shape {data.shape})")
    if shape is not None and data.shape != shape:
        raise InputError(f"{name} has shape {data.shape} but G1 has shape {shape}; all maps must match")
    return data


@dataclass(frozen=True)
class ShearMap:
    """Gridded (reduced) shear with its mask, per-pixel noise and geometry.

    Attributes:
        g1, g2: shear components per pixel (reduced shear or mean ellipticity), dimensionless.
        pixel_arcmin: side of a square pixel in arcmin.
        mask: 1 where observed, 0 where masked; masked pixels of g1, g2 hold 0. Default: all observed.
        noise: per-pixel standard deviation of each shear component (same for g1 and g2), or None
            when unknown. Masked pixels may hold anything (they are ignored).
        wcs: optional celestial ``astropy.wcs.WCS`` of the grid.
        meta: free-form provenance (source file, options), copied into output headers.
    """

    g1: np.ndarray
    g2: np.ndarray
    pixel_arcmin: float
    mask: np.ndarray | None = None
    noise: np.ndarray | None = None
    wcs: Any = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        g1 = _as_map("G1", self.g1)
        g2 = _as_map("G2", self.g2, g1.shape)
        mask = np.ones_like(g1) if self.mask is None else _as_map("MASK", self.mask, g1.shape)
        if not np.all(np.isin(mask, (0.0, 1.0))):
            raise InputError("MASK must hold only 1 (observed) and 0 (masked)")
        if not mask.any():
            raise InputError("MASK has no observed pixel: every pixel is masked")
        observed = mask > 0
        for name, comp in (("G1", g1), ("G2", g2)):
            bad = ~np.isfinite(comp) & observed
            if bad.any():
                raise InputError(
                    f"{name} has {int(bad.sum())} NaN or infinite value(s) in observed pixels; "
                    "mask them (MASK = 0) or remove them"
                )
        # Masked pixels hold 0 by convention, whatever the file had there (NaN included).
        g1 = np.where(observed, g1, 0.0)
        g2 = np.where(observed, g2, 0.0)
        noise = None
        if self.noise is not None:
            noise = _as_map("NOISE", self.noise, g1.shape)
            sel = noise[observed]
            if not np.all(np.isfinite(sel)) or np.any(sel <= 0):
                raise InputError("NOISE must be finite and > 0 in every observed pixel")
            noise = np.where(observed, noise, np.inf)
        pixel = float(self.pixel_arcmin)
        if not np.isfinite(pixel) or pixel <= 0:
            raise InputError(f"pixel scale must be a positive number of arcmin; got {self.pixel_arcmin!r}")
        for name, value in (("g1", g1), ("g2", g2), ("mask", mask), ("noise", noise), ("pixel_arcmin", pixel)):
            object.__setattr__(self, name, value)

    @property
    def shape(self) -> tuple[int, int]:
        return self.g1.shape

    @property
    def observed(self) -> np.ndarray:
        """Boolean map, True where observed."""
        return self.mask > 0

    @property
    def masked_fraction(self) -> float:
        return float(1.0 - self.mask.mean())

    def with_shear(self, g1: np.ndarray, g2: np.ndarray) -> ShearMap:
        """The same geometry, mask and noise with other shear values (e.g. a noise realisation)."""
        return replace(self, g1=g1, g2=g2)


@dataclass(frozen=True)
class KappaMap:
    """A convergence map: E and B modes, optional error maps, and provenance.

    Attributes:
        kappa_e, kappa_b: E-mode (the convergence) and B-mode (a null test) maps, dimensionless.
        pixel_arcmin: pixel side in arcmin.
        sigma: total 68 % error per pixel, where the method provides one.
        sigma_noise: noise-only standard deviation per pixel (from randomly rotated ellipticities).
        wcs: celestial WCS carried over from the input.
        meta: method name, options and other provenance written to the FITS header.
    """

    kappa_e: np.ndarray
    kappa_b: np.ndarray
    pixel_arcmin: float
    sigma: np.ndarray | None = None
    sigma_noise: np.ndarray | None = None
    wcs: Any = None
    meta: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return self.kappa_e.shape

    @property
    def snr(self) -> np.ndarray | None:
        """kappa_e / sigma (total error when known, else noise-only), or None without an error map."""
        err = self.sigma if self.sigma is not None else self.sigma_noise
        if err is None:
            return None
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(err > 0, self.kappa_e / err, 0.0)
