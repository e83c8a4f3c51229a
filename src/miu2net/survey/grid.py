r"""From a catalogue to gridded shear: gnomonic projection, weighted binning, mask and per-pixel noise.

Geometry. The grid is a north-up gnomonic (TAN) projection about the field centre with square pixels
of ``pixel_arcmin``, east to the left (``CDELT1 < 0``), as astronomers display the sky; the projection is
astropy's WCS. The catalogue's ellipticities, given in the local (east, north) frame of each galaxy
(see :mod:`miu2net.survey.catalogue`), are turned into the map's pixel frame: the east-left mirror negates
e2, and the small rotation between a galaxy's local north and the map's y axis (meridians converge away
from the centre) is applied to the spin-2 ellipticity.

Binning. Per pixel, :math:`g = \sum w_i e_i / \sum w_i`; the per-component noise is
:math:`\sigma = s \sqrt{\sum w_i^2}/\sum w_i` with :math:`s` the per-component intrinsic dispersion
(given, or measured from the catalogue as :math:`s^2 = \sum w^2 |e|^2 / (2 \sum w^2)`). Pixels with no
galaxy are masked (mask 0, shear 0, noise inf).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from miu2net.errors import InputError
from miu2net.maps import ShearMap, default_wcs
from miu2net.survey.catalogue import Catalogue

MAX_SIZE = 8192
#: Smallest map side, pixels: below it a map holds no structure to reconstruct.
MIN_SIZE = 8
#: Smallest fraction of the map's pixels that must hold a galaxy: below it the catalogue is too small
#: (too few galaxies, or a footprint far smaller than the map) for the requested map.
MIN_OBSERVED_FRACTION = 0.01


def field_center(ra: np.ndarray, dec: np.ndarray) -> tuple[float, float]:
    """Centre (RA, Dec, degrees) of a set of positions: the direction of their mean unit vector."""
    ra_r, dec_r = np.deg2rad(ra), np.deg2rad(dec)
    x, y, z = (np.mean(np.cos(dec_r) * np.cos(ra_r)), np.mean(np.cos(dec_r) * np.sin(ra_r)), np.mean(np.sin(dec_r)))
    return float(np.rad2deg(np.arctan2(y, x)) % 360.0), float(np.rad2deg(np.arctan2(z, np.hypot(x, y))))


@dataclass(frozen=True)
class Binning:
    """Which pixel each galaxy falls in, kept so that noise realisations can be re-binned fast."""

    pixel_index: np.ndarray  # flat index [y * nx + x] of each galaxy inside the map
    ellipticity: np.ndarray  # complex e1 + i e2 of those galaxies, (east, north) frame
    weight: np.ndarray
    rotation: np.ndarray  # exp(2i alpha): local (west, north) frame -> pixel frame, per galaxy
    shape: tuple[int, int]
    per_component_sigma: float

    def bin(self, e1: np.ndarray, e2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Weighted mean (g1, g2) in the pixel frame, and the weight sum, of (east, north) ellipticities."""
        e_pix = np.conj(e1 + 1j * e2) * self.rotation
        n = self.shape[0] * self.shape[1]
        wsum = np.bincount(self.pixel_index, weights=self.weight, minlength=n)
        s1 = np.bincount(self.pixel_index, weights=self.weight * e_pix.real, minlength=n)
        s2 = np.bincount(self.pixel_index, weights=self.weight * e_pix.imag, minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            g1 = np.where(wsum > 0, s1 / wsum, 0.0)
            g2 = np.where(wsum > 0, s2 / wsum, 0.0)
        return g1.reshape(self.shape), g2.reshape(self.shape), wsum.reshape(self.shape)


def _size_for(x: np.ndarray, y: np.ndarray, centre_pix: float) -> int:
    half = max(np.max(np.abs(x - centre_pix)), np.max(np.abs(y - centre_pix)))
    return int(2 * np.ceil(half + 0.5))


def _check_size(size: int, pixel_arcmin: float, n_galaxies: int, *, fitted: bool) -> None:
    """Refuse a map smaller than :data:`MIN_SIZE` (a catalogue too small for a map) or one too large for memory."""
    from miu2net.validate import check_map_size_memory

    if size < MIN_SIZE:
        if fitted:
            raise InputError(
                f"the catalogue is too small for a map: its {n_galaxies} galaxies span {size}x{size} pixels of "
                f"{pixel_arcmin:g}' and a map needs at least {MIN_SIZE}x{MIN_SIZE}; give a catalogue covering at "
                f"least {MIN_SIZE * pixel_arcmin:g}' on a side, or a smaller --pixel-arcmin")
        raise InputError(f"--size must be at least {MIN_SIZE} pixels; got {size}")
    check_map_size_memory(size, flag="--size" if not fitted else "the footprint's map, --size")


def _check_coverage(observed: np.ndarray, n_inside: int, pixel_arcmin: float) -> None:
    """Refuse a map in which fewer than :data:`MIN_OBSERVED_FRACTION` of the pixels hold a galaxy."""
    fraction = float(observed.mean())
    if fraction < MIN_OBSERVED_FRACTION:
        ny, nx = observed.shape
        raise InputError(
            f"the catalogue is too small for the requested map: {n_inside} galaxies fill {int(observed.sum())} of "
            f"the {ny}x{nx} pixels of {pixel_arcmin:g}' ({fraction:.2%}; at least {MIN_OBSERVED_FRACTION:.0%} "
            "must hold a galaxy); give a smaller --size, a larger --pixel-arcmin, or more galaxies")


def bin_catalogue(
    catalogue: Catalogue,
    *,
    pixel_arcmin: float,
    size: int | None = None,
    center: tuple[float, float] | None = None,
    shape_noise_sigma: float | None = None,
    max_outside_fraction: float = 0.5,
) -> tuple[ShearMap, Binning]:
    """Grid a catalogue onto a ``size`` x ``size`` TAN map (see the module docstring).

    Args:
        catalogue: galaxies with ellipticities in the (east, north) frame.
        pixel_arcmin: pixel side in arcmin.
        size: map side in pixels; None fits the footprint (rounded up to an even number).
        center: (RA, Dec) of the map centre in degrees; default the catalogue's centre.
        shape_noise_sigma: total intrinsic ellipticity rms (per component /sqrt 2); None measures it.
        max_outside_fraction: refuse the grid when more than this fraction of galaxies (by number)
            falls outside it: the footprint is much larger than asked.

    Returns:
        The ShearMap (pixel frame, with WCS, mask of non-empty pixels and noise map) and the Binning.
    """
    if not np.isfinite(pixel_arcmin) or pixel_arcmin <= 0:
        raise InputError(f"pixel_arcmin must be a finite number > 0 (arcmin); got {pixel_arcmin}")
    center = field_center(catalogue.ra, catalogue.dec) if center is None else (float(center[0]), float(center[1]))
    if not -90 <= center[1] <= 90:
        raise InputError(f"centre Dec {center[1]} is outside [-90, 90] degrees")
    probe = default_wcs((2, 2), pixel_arcmin, center_deg=center)
    x, y = probe.world_to_pixel_values(catalogue.ra, catalogue.dec)
    x, y = x - 0.5, y - 0.5  # offsets from the centre, in pixels
    behind = ~np.isfinite(x) | ~np.isfinite(y)
    if behind.all():
        raise InputError("no galaxy can be projected about the chosen centre (all on the far hemisphere)")
    fitted = size is None
    if size is None:
        size = _size_for(x[~behind], y[~behind], 0.0)
        if size > MAX_SIZE:
            raise InputError(
                f"the footprint spans {size} pixels of {pixel_arcmin}' (> {MAX_SIZE}): use a larger --pixel-arcmin, "
                "a --size with --center, or cut the catalogue"
            )
    _check_size(size, pixel_arcmin, len(catalogue), fitted=fitted)
    wcs = default_wcs((size, size), pixel_arcmin, center_deg=center)
    px, py = wcs.world_to_pixel_values(catalogue.ra, catalogue.dec)
    ix, iy = np.floor(px + 0.5).astype(np.int64, copy=False), np.floor(py + 0.5).astype(np.int64, copy=False)
    inside = ~behind & (ix >= 0) & (ix < size) & (iy >= 0) & (iy < size)
    outside_fraction = 1.0 - inside.mean()
    if outside_fraction > max_outside_fraction:
        raise InputError(
            f"the footprint is much larger than asked: {outside_fraction:.0%} of the galaxies fall outside the "
            f"{size}x{size} map of {pixel_arcmin}' pixels ({size * pixel_arcmin / 60:.2f} deg); "
            "give a larger --size, another --center, or tile the field"
        )
    if not inside.any():
        raise InputError("no galaxy falls inside the map")
    ra, dec = catalogue.ra[inside], catalogue.dec[inside]
    # Local north at each galaxy, in pixel coordinates: rotation of its frame against the map's.
    step = 1e-4
    nx0, ny0 = wcs.world_to_pixel_values(ra, np.clip(dec - step, -90, 90))
    nx1, ny1 = wcs.world_to_pixel_values(ra, np.clip(dec + step, -90, 90))
    alpha = np.arctan2(-(nx1 - nx0), ny1 - ny0)
    weight = catalogue.weight[inside]
    e1, e2 = catalogue.e1[inside], catalogue.e2[inside]
    if shape_noise_sigma is None:
        s = float(np.sqrt(np.sum(weight**2 * (e1**2 + e2**2)) / (2 * np.sum(weight**2))))
    else:
        s = float(shape_noise_sigma) / np.sqrt(2.0)
    binning = Binning(
        pixel_index=iy[inside] * size + ix[inside],
        ellipticity=e1 + 1j * e2,
        weight=weight,
        rotation=np.exp(2j * alpha),
        shape=(size, size),
        per_component_sigma=s,
    )
    g1, g2, wsum = binning.bin(e1, e2)
    w2sum = np.bincount(binning.pixel_index, weights=weight**2, minlength=size * size).reshape(size, size)
    observed = wsum > 0
    _check_coverage(observed, int(inside.sum()), pixel_arcmin)
    with np.errstate(invalid="ignore", divide="ignore"):
        noise = np.where(observed, s * np.sqrt(w2sum) / wsum, np.inf)
    meta = {**catalogue.meta, "n_galaxies_in_map": int(inside.sum()), "n_outside_map": int((~inside).sum()),
            "center_deg": center, "per_component_sigma": s}
    shear = ShearMap(g1=g1, g2=g2, pixel_arcmin=pixel_arcmin, mask=observed.astype(np.float64), noise=noise,
                     wcs=wcs, meta=meta)
    return shear, binning
