"""Wide fields: cut a large shear map into overlapping tiles, reconstruct each, blend back (feathered).

Tiles of ``tile`` x ``tile`` pixels start every ``tile - overlap`` pixels (the last one flush with the
map's edge). Each tile's unknown mass sheet is fixed by matching neighbouring tiles over their overlaps
(least squares). Each tile's result is weighted by the feather of :mod:`miu2net.tiles` and the
blended map is the weighted mean. Tiles run in parallel with Dask (threads by
default, or an existing distributed cluster through ``scheduler``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from miu2net.errors import InputError
from miu2net.maps import KappaMap, ShearMap
from miu2net.tiles import feather, tile_starts


def _sheet_offsets(places: list[tuple[int, int]], maps: list[np.ndarray], size: int) -> np.ndarray:
    """Constant to add to each tile so that overlapping tiles agree on average (least squares).

    Each tile's KS-like reconstruction has its own unknown mass sheet (zero mean over its own area);
    matching the tiles' means over every overlap, with the offsets summing to zero, removes the steps
    between tiles that blending alone would only smear out.
    """
    n = len(maps)
    rows, rhs = [], []
    for i in range(n):
        for j in range(i + 1, n):
            (yi, xi), (yj, xj) = places[i], places[j]
            y_lo, y_hi = max(yi, yj), min(yi, yj) + size
            x_lo, x_hi = max(xi, xj), min(xi, xj) + size
            if y_hi <= y_lo or x_hi <= x_lo:
                continue
            a = maps[i][y_lo - yi : y_hi - yi, x_lo - xi : x_hi - xi]
            b = maps[j][y_lo - yj : y_hi - yj, x_lo - xj : x_hi - xj]
            row = np.zeros(n)
            row[i], row[j] = 1.0, -1.0
            rows.append(row)
            rhs.append(float(np.mean(b - a)))
    rows.append(np.ones(n))
    rhs.append(0.0)
    return np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)[0]


def _sub_shear(shear: ShearMap, y0: int, x0: int, tile: int) -> ShearMap:
    sl = (slice(y0, y0 + tile), slice(x0, x0 + tile))
    wcs = shear.wcs.slice(sl) if shear.wcs is not None else None
    noise = None if shear.noise is None else shear.noise[sl]
    return ShearMap(g1=shear.g1[sl], g2=shear.g2[sl], mask=shear.mask[sl], noise=noise,
                    pixel_arcmin=shear.pixel_arcmin, wcs=wcs, meta=dict(shear.meta))


def reconstruct_tiled(
    shear: ShearMap,
    run: Callable[[ShearMap], KappaMap],
    *,
    tile: int,
    overlap: int,
    scheduler: str | None = None,
) -> KappaMap:
    """Reconstruct ``shear`` tile by tile with ``run`` and blend (module docstring). Tiles with no
    observed pixel are skipped (they keep zero weight)."""
    import dask

    ny, nx = shear.shape
    if ny != nx:
        raise InputError("tiling expects a square map")
    if tile < 8 or overlap < 0:
        raise InputError(f"need tile >= 8 and overlap >= 0; got tile={tile}, overlap={overlap}")
    starts = tile_starts(ny, tile, overlap)
    jobs, places = [], []
    for y0 in starts:
        for x0 in starts:
            sub = shear.mask[y0 : y0 + tile, x0 : x0 + tile]
            if not sub.any():
                continue
            jobs.append(dask.delayed(run)(_sub_shear(shear, y0, x0, tile)))
            places.append((y0, x0))
    if scheduler:
        from distributed import Client

        with Client(scheduler):
            results = dask.compute(*jobs)
    else:
        results = dask.compute(*jobs, scheduler="threads")
    size = min(tile, ny)
    offsets = _sheet_offsets(places, [k.kappa_e for k in results], size)
    acc_e, acc_b, acc_w = np.zeros((ny, nx)), np.zeros((ny, nx)), np.zeros((ny, nx))
    has_sigma = bool(results) and all(k.sigma is not None for k in results)
    acc_s = np.zeros((ny, nx)) if has_sigma else None
    for (y0, x0), kappa, offset in zip(places, results, offsets):
        w = feather((size, size), overlap, y_inner=(y0 > 0, y0 + size < ny), x_inner=(x0 > 0, x0 + size < nx))
        sl = (slice(y0, y0 + size), slice(x0, x0 + size))
        acc_e[sl] += w * (kappa.kappa_e + offset)
        acc_b[sl] += w * kappa.kappa_b
        acc_w[sl] += w
        if has_sigma:
            acc_s[sl] += w * kappa.sigma
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa_e = np.where(acc_w > 0, acc_e / acc_w, 0.0)
        kappa_b = np.where(acc_w > 0, acc_b / acc_w, 0.0)
        # A tile's error map blended like its kappa: a weighted mean of the tiles' sigmas (conservative
        # where tiles overlap, since their errors are correlated).
        sigma = np.where(acc_w > 0, acc_s / acc_w, np.inf) if has_sigma else None
    meta = dict(results[0].meta) if results else {}
    meta["tiling"] = {"tile": tile, "overlap": overlap, "n_tiles": len(jobs)}
    return KappaMap(kappa_e=kappa_e, kappa_b=kappa_b, pixel_arcmin=shear.pixel_arcmin, sigma=sigma, wcs=shear.wcs,
                    meta=meta)
