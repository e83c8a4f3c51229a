r"""Flat gnomonic patches over the sphere: tessellation, patch grids, shear rotation, reprojection, blending.

Patch geometry: the flat maps of :mod:`miu2net.survey.grid` (``maps.default_wcs``): a north-up gnomonic
(TAN) projection about (``ra0``, ``dec0``) with square pixels of ``pixel_arcmin``, indexed ``[y, x]``,
**east to the left** (x grows towards the west, ``CDELT1 < 0``), y towards the north, the projection
centre at pixel (``(size-1)/2``, ``(size-1)/2``) (0-based). With the standard coordinates
:math:`(\xi, \eta)` (radians, :math:`\xi` east, :math:`\eta` north) of the tangent plane,
:math:`x = x_c - \xi/\Delta` and :math:`y = y_c + \eta/\Delta`.

Shear frame: a catalogue's (or the ``sphere`` maps') ellipticity in the galaxy's local (east, north)
frame becomes, in the patch's pixel frame (west, north mirrored, then rotated),

.. math:: g_{\rm pix} = e^* \, e^{2 i \alpha}, \qquad \alpha = {\rm atan2}\!\left(-\sin(\alpha_{\rm RA}-\alpha_0)\sin\delta_0,\ \cos(\alpha_{\rm RA}-\alpha_0)\right),

the conjugate being the east-left mirror (it negates e2) and :math:`\alpha` the angle of the local north
against the patch's y axis (meridians converge away from the centre; :func:`north_angle`, the closed
form of the finite difference in :mod:`miu2net.survey.grid`). The flat KS93 of
:mod:`miu2net.physics.operators` then applies on the patch.

Back to the sphere: :func:`patch_to_sphere` interpolates a flat map bilinearly at the centres of the
HEALPix pixels (RING) that fall inside the patch, with a blending weight that is the product of two
cosine feathers, rising from 0 on the outermost pixel centres to 1 at ``feather_pixels`` from the edge;
:func:`blend` gives :math:`\sum w k / \sum w` per pixel, ``hp.UNSEEN`` where no patch reaches.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import healpy as hp
import numpy as np
from scipy.ndimage import map_coordinates

from miu2net.errors import InputError


def patch_centres(nside_tess: int, footprint_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centres of the low-resolution HEALPix pixels (``nside_tess``, RING) holding any observed pixel.

    Args:
        nside_tess: NSIDE of the tessellation (e.g. 16: pixels of 3.7 deg; a patch must be wider than
            that by its feather on each side to cover its tile).
        footprint_mask: a RING map (any NSIDE >= ``nside_tess``), > 0 where observed (``hp.UNSEEN`` or
            non-finite count as not observed).

    Returns:
        ``(pixels, ra, dec)``: tessellation pixel indices and their centres in degrees.
    """
    footprint_mask = np.asarray(footprint_mask, dtype=np.float64)
    if footprint_mask.ndim != 1 or not hp.isnpixok(footprint_mask.size):
        raise InputError("footprint_mask must be a 1-D HEALPix map")
    nside = hp.npix2nside(footprint_mask.size)
    if nside_tess > nside:
        raise InputError(f"nside_tess {nside_tess} is finer than the footprint's NSIDE {nside}")
    observed = np.flatnonzero(np.isfinite(footprint_mask) & (footprint_mask > 0) & (footprint_mask != hp.UNSEEN))
    theta, phi = hp.pix2ang(nside, observed)
    pixels = np.unique(hp.ang2pix(int(nside_tess), theta, phi))
    ra, dec = hp.pix2ang(int(nside_tess), pixels, lonlat=True)
    return pixels, ra, dec


def _centre(size_pixels: int) -> float:
    return (int(size_pixels) - 1) / 2.0


def gnomonic_patch(ra0: float, dec0: float, size_pixels: int, pixel_arcmin: float) -> tuple[np.ndarray, np.ndarray]:
    """RA, Dec (degrees, RA in [0, 360)) of the pixel centres of a ``size x size`` patch, arrays ``[y, x]``."""
    if size_pixels < 2 or pixel_arcmin <= 0:
        raise InputError("a patch needs size_pixels >= 2 and pixel_arcmin > 0")
    delta = np.deg2rad(pixel_arcmin / 60.0)
    index = np.arange(int(size_pixels)) - _centre(size_pixels)
    xi = -index[None, :] * delta  # east
    eta = index[:, None] * delta  # north
    d0, a0 = np.deg2rad(dec0), np.deg2rad(ra0)
    denom = np.cos(d0) - eta * np.sin(d0)
    ra = a0 + np.arctan2(xi, denom)
    dec = np.arctan2(np.sin(d0) + eta * np.cos(d0), np.hypot(xi, denom))
    return np.rad2deg(ra) % 360.0, np.broadcast_to(np.rad2deg(dec), ra.shape).copy()


def project_to_patch(ra: np.ndarray, dec: np.ndarray, ra0: float, dec0: float, size_pixels: int,
                     pixel_arcmin: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates ``(x, y)`` (0-based, floats) on the patch of positions in degrees; NaN on the far
    hemisphere (the gnomonic projection only covers the near one)."""
    a, d, a0, d0 = (np.deg2rad(np.asarray(v, dtype=np.float64)) for v in (ra, dec, ra0, dec0))
    cos_c = np.sin(d0) * np.sin(d) + np.cos(d0) * np.cos(d) * np.cos(a - a0)
    with np.errstate(invalid="ignore", divide="ignore"):
        safe = np.where(cos_c > 0, cos_c, np.nan)
        xi = np.cos(d) * np.sin(a - a0) / safe
        eta = (np.cos(d0) * np.sin(d) - np.sin(d0) * np.cos(d) * np.cos(a - a0)) / safe
    delta = np.deg2rad(pixel_arcmin / 60.0)
    return _centre(size_pixels) - xi / delta, _centre(size_pixels) + eta / delta


def north_angle(ra: np.ndarray, dec: np.ndarray, ra0: float, dec0: float) -> np.ndarray:
    """Angle (radians) from the patch's y axis to the local north at (ra, dec), in the pixel frame, such
    that the local north points along ``(-sin alpha, cos alpha)`` in (x, y) (module docstring)."""
    da = np.deg2rad(np.asarray(ra, dtype=np.float64) - ra0)
    return np.arctan2(-np.sin(da) * np.sin(np.deg2rad(dec0)), np.cos(da)) + 0.0 * np.asarray(dec)


def shear_to_patch_frame(e1: np.ndarray, e2: np.ndarray, ra: np.ndarray, dec: np.ndarray, ra0: float, dec0: float
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Ellipticity or shear in the local (east, north) frame -> the patch's pixel frame (module docstring),
    as :mod:`miu2net.survey.grid` does for its maps."""
    g = np.conj(np.asarray(e1) + 1j * np.asarray(e2)) * np.exp(2j * north_angle(ra, dec, ra0, dec0))
    return g.real, g.imag


def sample_to_patch(healpix_map: np.ndarray, ra0: float, dec0: float, size_pixels: int, pixel_arcmin: float
                    ) -> np.ndarray:
    """A scalar HEALPix map (RING) at a patch's pixel centres, ``[y, x]``: healpy's bilinear interpolation
    (``hp.get_interp_val``). For a spin-2 map, sample gamma1 and gamma2 and turn them with
    :func:`shear_to_patch_frame`."""
    ra, dec = gnomonic_patch(ra0, dec0, size_pixels, pixel_arcmin)
    return hp.get_interp_val(np.asarray(healpix_map, dtype=np.float64), ra, dec, lonlat=True)


def feather(distance: np.ndarray, feather_pixels: float) -> np.ndarray:
    """Cosine feather: 0 at distance 0 from the edge, sin^2(pi d / (2 F)) up to F pixels, then 1."""
    d = np.clip(np.asarray(distance, dtype=np.float64) / float(feather_pixels), 0.0, 1.0)
    return np.sin(0.5 * np.pi * d) ** 2


@dataclass(frozen=True)
class PatchOnSphere:
    """A flat map reprojected onto HEALPix pixels: RING ``pixels`` of ``nside``, ``values`` and blending ``weight``."""

    nside: int
    pixels: np.ndarray
    values: np.ndarray
    weight: np.ndarray


def patch_to_sphere(flat_map: np.ndarray, ra0: float, dec0: float, pixel_arcmin: float, nside: int, *,
                    feather_pixels: float | None = None) -> PatchOnSphere:
    """Reproject a square flat patch ``[y, x]`` (geometry of :func:`gnomonic_patch`) onto HEALPix pixels.

    Every RING pixel of ``nside`` whose centre lies within the patch's outermost pixel centres gets the
    bilinear interpolation of ``flat_map`` there and the weight ``feather(dx) * feather(dy)`` (``dx``,
    ``dy`` the distances in pixels to the nearest edge centres); ``feather_pixels`` defaults to 1/8 of
    the side. Non-finite flat values get weight 0.
    """
    flat_map = np.asarray(flat_map, dtype=np.float64)
    size = flat_map.shape[0]
    if flat_map.ndim != 2 or flat_map.shape[1] != size:
        raise InputError(f"flat_map must be a square 2-D map; got shape {flat_map.shape}")
    feather_pixels = size / 8.0 if feather_pixels is None else float(feather_pixels)
    half_diagonal = np.deg2rad(pixel_arcmin / 60.0) * size / np.sqrt(2.0)
    if half_diagonal >= np.pi / 2:
        raise InputError("a gnomonic patch must span less than a hemisphere")
    radius = np.arctan(half_diagonal) + hp.nside2resol(nside)
    candidates = hp.query_disc(int(nside), hp.ang2vec(ra0, dec0, lonlat=True), radius)
    ra, dec = hp.pix2ang(int(nside), candidates, lonlat=True)
    x, y = project_to_patch(ra, dec, ra0, dec0, size, pixel_arcmin)
    inside = np.isfinite(x) & (x >= 0) & (x <= size - 1) & (y >= 0) & (y <= size - 1)
    x, y = x[inside], y[inside]
    finite = np.isfinite(flat_map)
    values = map_coordinates(np.where(finite, flat_map, 0.0), [y, x], order=1, mode="nearest")
    good = map_coordinates(finite.astype(np.float64), [y, x], order=1, mode="nearest") > 1 - 1e-9
    edge = size - 1
    weight = feather(np.minimum(x, edge - x), feather_pixels) * feather(np.minimum(y, edge - y), feather_pixels)
    return PatchOnSphere(int(nside), candidates[inside], values, np.where(good, weight, 0.0))


def blend_sums(pieces: Iterable[PatchOnSphere], nside: int) -> tuple[np.ndarray, np.ndarray]:
    """Full-sky sums (sum w k, sum w) of reprojected patches (to merge partial blends, then divide)."""
    npix = hp.nside2npix(int(nside))
    sum_wk, sum_w = np.zeros(npix), np.zeros(npix)
    for piece in pieces:
        if piece.nside != nside:
            raise InputError(f"a patch reprojected at NSIDE {piece.nside} cannot be blended at {nside}")
        sum_wk[piece.pixels] += piece.weight * piece.values  # a piece's pixels are distinct
        sum_w[piece.pixels] += piece.weight
    return sum_wk, sum_w


def blend(pieces: Iterable[PatchOnSphere], nside: int, *, outside: float = hp.UNSEEN) -> np.ndarray:
    """The feathered mean :math:`\\sum w k/\\sum w` of reprojected patches: a RING map, ``outside`` where
    no patch has weight."""
    sum_wk, sum_w = blend_sums(pieces, nside)
    covered = sum_w > 0
    return np.where(covered, sum_wk / np.where(covered, sum_w, 1.0), outside)
