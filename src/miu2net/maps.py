"""Map types: gridded shear in, convergence out. They carry geometry; the physics takes plain arrays.

Both types hold 2-D float arrays indexed ``[y, x]`` with square pixels of side ``pixel_arcmin``. Shear
components are defined on the map's own axes: ``g1 > 0`` stretches along x (axis 1), ``g2 > 0`` along
the diagonal x = y. The optional ``wcs`` (an ``astropy.wcs.WCS``, celestial) ties the grid to the sky.
:func:`bin_shear` bins a shear map to coarser pixels (e.g. to a trained model's pixel).
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
        kappa_power: a trained model's power-faithful estimate (its C_ell kept where the noise dominates;
            for power spectra and higher-order statistics), when ``kappa_e`` is the minimum-RMSE map.
        kappa_mean: the minimum-RMSE map (the posterior mean), when ``kappa_e`` is the power-faithful one
            (``estimate="power"``).
    """

    kappa_e: np.ndarray
    kappa_b: np.ndarray
    pixel_arcmin: float
    sigma: np.ndarray | None = None
    sigma_noise: np.ndarray | None = None
    wcs: Any = None
    meta: dict = field(default_factory=dict)
    kappa_power: np.ndarray | None = None
    kappa_mean: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.kappa_e.shape

    @property
    def snr(self) -> np.ndarray | None:
        """The detection S/N: kappa_e / sigma_noise (noise only, from randomly rotated ellipticities) when
        known, else kappa_e / sigma (the total error); None without an error map (:attr:`snr_definition`)."""
        err = self.sigma_noise if self.sigma_noise is not None else self.sigma
        if err is None:
            return None
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(err > 0, self.kappa_e / err, 0.0)

    @property
    def snr_definition(self) -> str | None:
        """What :attr:`snr` divides by, as the ``SNRDEF`` header card says it (short enough for one card)."""
        if self.sigma_noise is not None:
            return "KAPPA_E/SIGMA_NOISE (detection, noise only)"
        return None if self.sigma is None else "KAPPA_E/SIGMA (total error)"


def _binned_wcs(wcs: Any, factor: int, shape: tuple[int, int]) -> Any:
    """The WCS of the grid whose pixel (j, i) is the block ``[f*j : f*(j+1), f*i : f*(i+1)]`` of ``wcs``'s
    grid: its centre is the block's centre, old pixel ``f*q - (f-1)/2`` (1-based FITS pixels), and the
    linear part (CD, or CDELT with PC) scales by ``f``. (``WCS.slice`` with a step ignores a CD matrix.)"""
    if getattr(wcs, "sip", None) is not None or any(
            getattr(wcs, name, None) is not None for name in ("cpdis1", "cpdis2", "det2im1", "det2im2")):
        raise InputError("cannot bin a map whose WCS has distortion terms (SIP or lookup tables)")
    out = wcs.deepcopy()
    out.wcs.crpix = (np.asarray(wcs.wcs.crpix, dtype=np.float64) + (factor - 1) / 2) / factor
    if out.wcs.has_cd():
        out.wcs.cd = np.asarray(wcs.wcs.cd, dtype=np.float64) * factor
    else:
        out.wcs.cdelt = np.asarray(wcs.wcs.cdelt, dtype=np.float64) * factor
    out.wcs.set()
    if wcs.pixel_shape is not None:
        out.pixel_shape = (shape[1], shape[0])
    return out


def bin_shear(shear: ShearMap, factor: int) -> ShearMap:
    r"""``shear`` on pixels ``factor`` times larger: each output pixel is a block of ``factor x factor`` input
    pixels.

    Per block, with inverse-variance weights :math:`w = 1/\sigma^2` on observed pixels (equal weights
    when ``shear.noise`` is None): :math:`g = \sum w g / \sum w` per component, noise
    :math:`\sigma = 1/\sqrt{\sum w}` (None stays None), mask 1 where any pixel of the block is observed.
    Fully masked blocks are masked (g = 0, noise inf). ``pixel_arcmin`` is multiplied by ``factor``; the
    WCS, when present, describes the binned grid (a binned pixel's centre is its block's centre). A side
    that is not a multiple of ``factor`` loses its trailing rows/columns (at most ``factor - 1``) before
    binning. ``meta`` is kept, with ``meta["binned"]`` = ``{"factor", "from_pixel_arcmin",
    "to_pixel_arcmin", "cropped": [rows, columns], "note"}`` added. ``factor = 1`` returns ``shear``.
    Raises InputError for a factor that is not a positive integer or larger than the map.
    """
    if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or factor < 1:
        raise InputError(f"the binning factor must be a positive integer; got {factor!r}")
    factor = int(factor)
    if factor == 1:
        return shear
    ny, nx = shear.shape
    by, bx = ny // factor, nx // factor
    if by == 0 or bx == 0:
        raise InputError(f"a {ny}x{nx} map cannot be binned {factor}x{factor}: it is smaller than one block")
    cy, cx = by * factor, bx * factor

    def block_sum(a: np.ndarray) -> np.ndarray:  # ``a`` already cropped to (cy, cx)
        return a.reshape(by, factor, bx, factor).sum(axis=(1, 3))

    observed = shear.observed[:cy, :cx]
    if shear.noise is None:
        scale, weight = 1.0, observed.astype(np.float64)
    else:
        # Weights (scale/σ)² lie in (0, 1]: no overflow or underflow for any finite positive σ.
        noise = shear.noise[:cy, :cx]
        scale = float(noise[observed].min()) if observed.any() else 1.0
        weight = np.where(observed, (scale / np.where(observed, noise, 1.0)) ** 2, 0.0)
    wsum = block_sum(weight)
    mask = block_sum(observed.astype(np.float64)) > 0
    safe = np.where(mask, wsum, 1.0)
    g1 = np.where(mask, block_sum(weight * shear.g1[:cy, :cx]) / safe, 0.0)
    g2 = np.where(mask, block_sum(weight * shear.g2[:cy, :cx]) / safe, 0.0)
    noise = None if shear.noise is None else np.where(mask, scale / np.sqrt(safe), np.inf)
    pixel = shear.pixel_arcmin * factor
    cropped = [ny - cy, nx - cx]
    note = f"binned {factor}x{factor} from {shear.pixel_arcmin:g}' to {pixel:g}' pixels (inverse-variance weights)"
    if any(cropped):
        note += f"; the last {cropped[0]} row(s) and {cropped[1]} column(s) were cropped to fit whole blocks"
    wcs = None if shear.wcs is None else _binned_wcs(shear.wcs, factor, (by, bx))
    meta = {**shear.meta, "binned": {"factor": factor, "from_pixel_arcmin": shear.pixel_arcmin,
                                     "to_pixel_arcmin": pixel, "cropped": cropped, "note": note}}
    return ShearMap(g1=g1, g2=g2, pixel_arcmin=pixel, mask=mask.astype(np.float64), noise=noise, wcs=wcs, meta=meta)


def default_wcs(shape: tuple[int, int], pixel_arcmin: float, center_deg: tuple[float, float] = (0.0, 0.0)) -> Any:
    """A north-up gnomonic (TAN) WCS centred on ``center_deg`` (RA, Dec), RA increasing to the left."""
    from astropy.wcs import WCS  # imported here: astropy.wcs costs 0.4 s at start-up

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = list(center_deg)
    wcs.wcs.crpix = [shape[1] / 2 + 0.5, shape[0] / 2 + 0.5]
    wcs.wcs.cdelt = [-pixel_arcmin / 60.0, pixel_arcmin / 60.0]
    wcs.wcs.cunit = ["deg", "deg"]
    return wcs
