r"""From a galaxy catalogue to HEALPix shear maps, a chunk at a time.

Pixels: healpy RING ordering at ``nside``; a galaxy at (RA, Dec) in degrees falls in
``hp.ang2pix(nside, ra, dec, lonlat=True)`` (:math:`\theta = 90° - {\rm Dec}`, :math:`\phi = {\rm RA}`).

Orientation: the ellipticities stay in the catalogue's local (east, north) frame
(:mod:`miu2net.survey.catalogue`), which is the frame of the ``sphere`` package's shear maps
(:mod:`miu2net.sphere.harmonic` turns it into healpy's :math:`(\theta, \phi)` basis, where
:math:`Q + iU = -(e_1 + ie_2)`). No rotation is needed on the sphere: each pixel's shear is the weighted
mean of its galaxies' ellipticities in their own local frames, which all coincide within a pixel.

Per pixel (the conventions of :mod:`miu2net.survey.grid`): :math:`g = \sum w_i e_i/\sum w_i`; noise per
component :math:`\sigma = s\sqrt{\sum w_i^2}/\sum w_i` with :math:`s = \sigma_e/\sqrt2` the per-component
dispersion of the total intrinsic ellipticity rms ``shape_noise_sigma`` :math:`\sigma_e`
(docs/conventions.md), or, when not given, measured as :math:`s^2 = \sum w^2|e|^2/(2\sum w^2)`. Pixels
without weight are masked: mask 0, shear 0, noise inf, n_gal 0.

Chunks: :class:`ShearAccumulator` sums the chunks' per-pixel totals (``add``), merges with another
accumulator of the same NSIDE (``merge``: a Dask tree reduction) and turns the totals into maps
(``finish``). Each chunk is summed with ``np.bincount`` over its own distinct pixels (temporaries the size
of the chunk); the accumulator holds five full-sky arrays (40 bytes a pixel: 0.5 GB at NSIDE 1024,
8 GB at 4096, 32 GB at 8192).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import healpy as hp
import numpy as np

from miu2net.errors import InputError

#: Largest NSIDE :func:`footprint_nside_default` returns (pixels of 0.43').
MAX_NSIDE = 8192


def nside_pixel_arcmin(nside: int) -> float:
    r"""Side of a HEALPix pixel taken as the square root of its area, arcmin: :math:`\sqrt{\pi/3}/N_{\rm side}` rad."""
    return math.degrees(math.sqrt(hp.nside2pixarea(int(nside)))) * 60.0


def footprint_nside_default(pixel_arcmin: float | None = None, *, pixel_area_arcmin2: float | None = None,
                            max_nside: int = MAX_NSIDE) -> int:
    r"""The NSIDE whose pixels are nearest to a requested pixel scale.

    Rule: the power of two nearest, in log2, to :math:`\sqrt{\pi/3}/\Delta` (:math:`\Delta` the requested
    side in radians; a pixel's side is taken as the square root of its area, :func:`nside_pixel_arcmin`),
    so the chosen pixel is within a factor :math:`\sqrt2` of the request; clipped to [1, ``max_nside``].
    E.g. 0.41' -> 8192 (0.43'), 0.82' -> 4096 (0.86'), 3.44' -> 1024, 1 deg -> 64.

    Args:
        pixel_arcmin: requested pixel side, arcmin.
        pixel_area_arcmin2: or the requested pixel area, arcmin².
    """
    if (pixel_arcmin is None) == (pixel_area_arcmin2 is None):
        raise InputError("give exactly one of pixel_arcmin and pixel_area_arcmin2")
    side = float(pixel_arcmin) if pixel_arcmin is not None else math.sqrt(float(pixel_area_arcmin2))
    if not math.isfinite(side) or side <= 0:
        raise InputError(f"the pixel scale must be a finite number > 0; got {pixel_arcmin or pixel_area_arcmin2!r}")
    exact = math.sqrt(math.pi / 3.0) / math.radians(side / 60.0)
    order = round(math.log2(exact))
    return int(min(max(2**order, 1), max_nside))


@dataclass(frozen=True)
class HealpixShear:
    """Shear maps of a catalogue: full-sky RING arrays (east, north frame), see the module docstring.

    ``gamma1``, ``gamma2``: weighted mean ellipticity (0 where masked); ``mask``: 1 observed, 0 not;
    ``noise``: per-component standard deviation (inf where masked); ``n_gal``: galaxies per pixel;
    ``weight``: the sum of the weights; ``per_component_sigma``: the :math:`s` used.
    """

    gamma1: np.ndarray
    gamma2: np.ndarray
    mask: np.ndarray
    noise: np.ndarray
    n_gal: np.ndarray
    weight: np.ndarray
    per_component_sigma: float

    @property
    def nside(self) -> int:
        return int(hp.npix2nside(self.gamma1.size))


@dataclass
class ShearAccumulator:
    """Per-pixel sums of a catalogue read in chunks: ``add`` each chunk, ``merge`` partial sums, ``finish``.

    Sums (full-sky RING arrays): weight, weight*e1, weight*e2, weight², galaxy count; and the scalar
    :math:`\\sum w^2|e|^2` for measuring the shape noise.
    """

    nside: int
    sum_w: np.ndarray = field(default=None, repr=False)
    sum_we1: np.ndarray = field(default=None, repr=False)
    sum_we2: np.ndarray = field(default=None, repr=False)
    sum_w2: np.ndarray = field(default=None, repr=False)
    count: np.ndarray = field(default=None, repr=False)
    sum_w2e2: float = 0.0

    def __post_init__(self) -> None:
        if not hp.isnsideok(self.nside, nest=True):
            raise InputError(f"nside must be a power of two; got {self.nside!r}")
        npix = hp.nside2npix(self.nside)
        for name in ("sum_w", "sum_we1", "sum_we2", "sum_w2"):
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(npix))
        if self.count is None:
            self.count = np.zeros(npix, dtype=np.int64)

    def add(self, ra: np.ndarray, dec: np.ndarray, e1: np.ndarray, e2: np.ndarray,
            weight: np.ndarray | None = None) -> ShearAccumulator:
        """Add a chunk of galaxies: RA, Dec in degrees, ellipticities in the (east, north) frame, weights
        (default 1). Returns self."""
        ra, dec, e1, e2 = (np.asarray(a, dtype=np.float64).ravel() for a in (ra, dec, e1, e2))
        weight = np.ones_like(ra) if weight is None else np.asarray(weight, dtype=np.float64).ravel()
        if not (ra.size == dec.size == e1.size == e2.size == weight.size):
            raise InputError("ra, dec, e1, e2 and weight must have the same length")
        if ra.size == 0:
            return self
        if np.any(np.abs(dec) > 90) or not np.all(np.isfinite(ra)) or not np.all(np.isfinite(dec)):
            raise InputError("dec must lie in [-90, 90] degrees and ra, dec must be finite")
        pix = hp.ang2pix(self.nside, ra, dec, lonlat=True)
        pixels, index = np.unique(pix, return_inverse=True)
        n = pixels.size
        self.sum_w[pixels] += np.bincount(index, weights=weight, minlength=n)
        self.sum_we1[pixels] += np.bincount(index, weights=weight * e1, minlength=n)
        self.sum_we2[pixels] += np.bincount(index, weights=weight * e2, minlength=n)
        self.sum_w2[pixels] += np.bincount(index, weights=weight**2, minlength=n)
        self.count[pixels] += np.bincount(index, minlength=n)
        self.sum_w2e2 += float(np.sum(weight**2 * (e1**2 + e2**2)))
        return self

    def merge(self, other: ShearAccumulator) -> ShearAccumulator:
        """Add another accumulator's sums (same NSIDE) into this one; returns self."""
        if other.nside != self.nside:
            raise InputError(f"cannot merge accumulators of NSIDE {self.nside} and {other.nside}")
        for name in ("sum_w", "sum_we1", "sum_we2", "sum_w2", "count"):
            getattr(self, name).__iadd__(getattr(other, name))
        self.sum_w2e2 += other.sum_w2e2
        return self

    def finish(self, shape_noise_sigma: float | None = None) -> HealpixShear:
        """The maps (module docstring). ``shape_noise_sigma``: total intrinsic ellipticity rms
        :math:`\\sigma_e` (per component :math:`\\sigma_e/\\sqrt2`); None measures it from the sums."""
        observed = self.sum_w > 0
        if not observed.any():
            raise InputError("no galaxy with a weight > 0 was added")
        if shape_noise_sigma is None:
            s = math.sqrt(self.sum_w2e2 / (2.0 * float(self.sum_w2.sum())))
        else:
            s = float(shape_noise_sigma) / math.sqrt(2.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            wsum = np.where(observed, self.sum_w, 1.0)
            g1 = np.where(observed, self.sum_we1 / wsum, 0.0)
            g2 = np.where(observed, self.sum_we2 / wsum, 0.0)
            noise = np.where(observed, s * np.sqrt(self.sum_w2) / wsum, np.inf)
        return HealpixShear(g1, g2, observed.astype(np.float64), noise, self.count.copy(), self.sum_w.copy(), s)


def bin_catalogue_healpix(ra, dec, e1, e2, weight=None, *, nside: int,
                          shape_noise_sigma: float | None = None) -> HealpixShear:
    """One-shot :class:`ShearAccumulator` for a catalogue held in memory."""
    return ShearAccumulator(nside).add(ra, dec, e1, e2, weight).finish(shape_noise_sigma)
