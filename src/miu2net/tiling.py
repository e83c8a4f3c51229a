r"""Tiles: cutting a map into overlapping squares and blending them back.

Geometry. Tiles of ``tile`` pixels start every ``tile - overlap`` pixels, the last one flush with the
map's edge (:func:`tile_starts`). Each tile is weighted by a feather (:func:`feather`) that rises as a
raised cosine across ``overlap`` pixels (at most half the tile) from every tile edge that lies inside the
map; edges on the map's border keep full weight. The networks' fixed-size tiles
(:mod:`miu2net.nn.inference`) and the wide-field tiles below share this geometry.

Wide fields (:func:`reconstruct_tiled`). Any method runs on the tiles (``run`` is a function
ShearMap -> KappaMap). Each tile's unknown mass sheet is fixed by matching neighbouring tiles over their
overlaps (least squares on the differences of their means there, the offsets summing to zero). The
blended map is the weighted mean :math:`\kappa = \sum_t w_t(\kappa_t + o_t) / \sum_t w_t`.

Parallelism and memory. Tiles are computed with Dask, in batches of ``batch`` tiles (default: twice the
workers): on local threads (``scheduler=None`` or ``"threads"``), local processes (``"processes"``), in
the calling thread (``"synchronous"``), or on a Dask distributed cluster given by its scheduler's
address (``"tcp://host:8786"``; the tiles' data travel to the workers, each tile's result back). As a
batch returns, each tile is folded into running sums (the weighted maps, the weights, and its means
over every overlap with its neighbours) and dropped, so memory holds the input, the output maps and one
batch of tiles whatever the number of tiles; the input arrays may be memory maps (``np.load(...,
mmap_mode="r")``, FITS ``memmap``), of which only the tiles in flight are read. The mass-sheet offsets
are applied at the end, as :math:`\sum_t o_t w_t` (the feathers are recomputed, not stored).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from miu2net.errors import InputError
from miu2net.maps import KappaMap, ShearMap


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Start indices of tiles of ``tile`` pixels covering ``[0, size)``, overlapping by >= ``overlap``."""
    if tile >= size:
        return [0]
    step = tile - overlap
    if step <= 0:
        raise InputError(f"tile overlap ({overlap}) must be smaller than the tile ({tile})")
    return sorted(set(list(range(0, size - tile, step)) + [size - tile]))


def _ramp(n: int, ramp: int, low: bool, high: bool) -> np.ndarray:
    w = np.ones(n)
    ramp = min(ramp, n // 2)
    if ramp > 0:
        r = 0.5 - 0.5 * np.cos(np.pi * (np.arange(ramp) + 0.5) / ramp)
        if low:
            w[:ramp] = np.minimum(w[:ramp], r)
        if high:
            w[n - ramp:] = np.minimum(w[n - ramp:], r[::-1])
    return w


def feather(shape: tuple[int, int], overlap: int, *, y_inner: tuple[bool, bool], x_inner: tuple[bool, bool]) -> np.ndarray:
    """Blending weight of a tile; ``*_inner`` say which of its (low, high) edges lie inside the map."""
    return np.outer(_ramp(shape[0], overlap, *y_inner), _ramp(shape[1], overlap, *x_inner))


LOCAL_SCHEDULERS = ("threads", "processes", "synchronous")


def _sheet_offsets(n: int, differences: list[tuple[int, int, float]]) -> np.ndarray:
    """Constant to add to each of ``n`` tiles so that overlapping tiles agree on average (least squares).

    ``differences`` holds ``(i, j, mean_j - mean_i)`` over the overlap of tiles i and j. Each tile's
    KS-like reconstruction has its own unknown mass sheet (zero mean over its own area); matching the
    tiles' means over every overlap, with the offsets summing to zero, removes the steps between tiles
    that blending alone would only smear out.
    """
    rows, rhs = [], []
    for i, j, diff in differences:
        row = np.zeros(n)
        row[i], row[j] = 1.0, -1.0
        rows.append(row)
        rhs.append(diff)
    rows.append(np.ones(n))
    rhs.append(0.0)
    return np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)[0]


def _sub_shear(shear: ShearMap, y0: int, x0: int, tile: int) -> ShearMap:
    sl = (slice(y0, y0 + tile), slice(x0, x0 + tile))
    wcs = shear.wcs.slice(sl) if shear.wcs is not None else None
    noise = None if shear.noise is None else np.array(shear.noise[sl])
    return ShearMap(g1=np.array(shear.g1[sl]), g2=np.array(shear.g2[sl]), mask=np.array(shear.mask[sl]), noise=noise,
                    pixel_arcmin=shear.pixel_arcmin, wcs=wcs, meta=dict(shear.meta))


def _overlap(a: tuple[int, int], b: tuple[int, int], size: int) -> tuple[slice, slice] | None:
    """The map region shared by tiles starting at ``a`` and ``b`` (None when they do not overlap)."""
    y_lo, y_hi = max(a[0], b[0]), min(a[0], b[0]) + size
    x_lo, x_hi = max(a[1], b[1]), min(a[1], b[1]) + size
    if y_hi <= y_lo or x_hi <= x_lo:
        return None
    return slice(y_lo, y_hi), slice(x_lo, x_hi)


def _neighbours(places: list[tuple[int, int]], starts: list[int], size: int) -> dict[int, list]:
    """For each tile, the tiles it overlaps and the shared region; only tiles a few starts away are
    examined (those within ``size`` pixels), so the cost grows like the number of tiles."""
    position = {s: k for k, s in enumerate(starts)}
    index = {place: i for i, place in enumerate(places)}
    reach = 1
    while reach < len(starts) and any(starts[k + reach] - starts[k] < size for k in range(len(starts) - reach)):
        reach += 1
    out: dict[int, list] = {}
    for i, (y0, x0) in enumerate(places):
        ky, kx = position[y0], position[x0]
        found = []
        for qy in starts[max(ky - reach, 0) : ky + reach + 1]:
            for qx in starts[max(kx - reach, 0) : kx + reach + 1]:
                j = index.get((qy, qx))
                if j is None or j == i:
                    continue
                region = _overlap((y0, x0), (qy, qx), size)
                if region is not None:
                    found.append((j, region))
        out[i] = found
    return out


def _compute(jobs: list, scheduler: str | None, client) -> list:
    import dask

    if client is not None:
        return list(dask.compute(*jobs, scheduler=client))
    return list(dask.compute(*jobs, scheduler=scheduler or "threads"))


def check_scheduler(scheduler: str | None) -> str | None:
    """``scheduler`` if it names a local Dask scheduler or looks like a cluster address, else InputError."""
    if scheduler is None or scheduler in LOCAL_SCHEDULERS or "://" in scheduler or ":" in scheduler:
        return scheduler
    raise InputError(f"scheduler must be one of {', '.join(LOCAL_SCHEDULERS)} or a Dask scheduler address "
                     f"such as tcp://host:8786; got {scheduler!r}")


def reconstruct_tiled(
    shear: ShearMap,
    run: Callable[[ShearMap], KappaMap],
    *,
    tile: int,
    overlap: int,
    scheduler: str | None = None,
    batch: int | None = None,
) -> KappaMap:
    """Reconstruct ``shear`` tile by tile with ``run`` and blend (module docstring).

    Args:
        shear: the gridded shear (square map); its arrays may be memory maps.
        run: the method, ShearMap -> KappaMap (any of :mod:`miu2net.methods`, with its options bound).
        tile: tile side in pixels (>= 8).
        overlap: overlap of neighbouring tiles in pixels (>= 0, < tile); the feather ramps over it.
        scheduler: None or ``"threads"``, ``"processes"``, ``"synchronous"``, or the address of a Dask
            distributed scheduler.
        batch: tiles computed at a time (default: twice the workers: the local CPUs, or the cluster's
            threads).

    Tiles with no observed pixel are skipped (they keep zero weight). Returns the blended KappaMap with
    ``meta["tiling"]`` (tile, overlap, number of tiles, scheduler, batch).
    """
    import dask

    ny, nx = shear.shape
    if ny != nx:
        raise InputError("tiling expects a square map")
    if tile < 8 or overlap < 0:
        raise InputError(f"need tile >= 8 and overlap >= 0; got tile={tile}, overlap={overlap}")
    scheduler = check_scheduler(scheduler)
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
        raise InputError(f"batch must be a positive number of tiles; got {batch!r}")
    starts = tile_starts(ny, tile, overlap)
    size = min(tile, ny)
    places = [(y0, x0) for y0 in starts for x0 in starts if shear.mask[y0 : y0 + size, x0 : x0 + size].any()]
    index = {place: i for i, place in enumerate(places)}
    neighbours = _neighbours(places, starts, size)

    client = None
    if scheduler is not None and scheduler not in LOCAL_SCHEDULERS:
        from distributed import Client

        client = Client(scheduler)
    try:
        workers = sum(client.nthreads().values()) if client is not None else (os.cpu_count() or 1)
        batch = batch or 2 * workers
        acc_e, acc_b, acc_w = np.zeros((ny, nx)), np.zeros((ny, nx)), np.zeros((ny, nx))
        acc_s = np.zeros((ny, nx))
        has_sigma = True
        overlap_means: dict[tuple[int, int], float] = {}
        meta: dict = {}
        acc_alt: dict[str, np.ndarray] = {}  # a trained model's second estimate (kappa_power or kappa_mean)
        for first in range(0, len(places), batch):
            chunk = places[first : first + batch]
            jobs = [dask.delayed(run)(_sub_shear(shear, y0, x0, size)) for y0, x0 in chunk]
            for (y0, x0), kappa in zip(chunk, _compute(jobs, scheduler, client)):
                i = index[(y0, x0)]
                if not meta:
                    meta = dict(kappa.meta)
                w = _feather(y0, x0, size, overlap, ny, nx)
                sl = (slice(y0, y0 + size), slice(x0, x0 + size))
                acc_e[sl] += w * kappa.kappa_e
                acc_b[sl] += w * kappa.kappa_b
                acc_w[sl] += w
                for name in ("kappa_power", "kappa_mean"):
                    if getattr(kappa, name) is not None:
                        acc_alt.setdefault(name, np.zeros((ny, nx)))[sl] += w * getattr(kappa, name)
                if kappa.sigma is None:
                    has_sigma = False
                elif has_sigma:
                    acc_s[sl] += w * kappa.sigma
                for j, (ry, rx) in neighbours[i]:
                    local = (slice(ry.start - y0, ry.stop - y0), slice(rx.start - x0, rx.stop - x0))
                    overlap_means[(i, j)] = float(np.mean(kappa.kappa_e[local]))
    finally:
        if client is not None:
            client.close()
    differences = [(i, j, overlap_means[(j, i)] - overlap_means[(i, j)])
                   for i in range(len(places)) for j, _ in neighbours[i] if i < j]
    offsets = _sheet_offsets(len(places), differences) if places else np.zeros(0)
    for (y0, x0), offset in zip(places, offsets):
        acc_e[y0 : y0 + size, x0 : x0 + size] += offset * _feather(y0, x0, size, overlap, ny, nx)
        for acc in acc_alt.values():  # the same mass sheet for the second estimate
            acc[y0 : y0 + size, x0 : x0 + size] += offset * _feather(y0, x0, size, overlap, ny, nx)
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa_e = np.where(acc_w > 0, acc_e / acc_w, 0.0)
        kappa_b = np.where(acc_w > 0, acc_b / acc_w, 0.0)
        alternates = {name: np.where(acc_w > 0, acc / acc_w, 0.0) for name, acc in acc_alt.items()}
        # A tile's error map blended like its kappa: a weighted mean of the tiles' sigmas (conservative
        # where tiles overlap, since their errors are correlated).
        sigma = np.where(acc_w > 0, acc_s / acc_w, np.inf) if (has_sigma and places) else None
    meta["tiling"] = {"tile": tile, "overlap": overlap, "n_tiles": len(places),
                      "scheduler": scheduler or "threads", "batch": batch}
    return KappaMap(kappa_e=kappa_e, kappa_b=kappa_b, pixel_arcmin=shear.pixel_arcmin, sigma=sigma, wcs=shear.wcs,
                    meta=meta, **alternates)


def _feather(y0: int, x0: int, size: int, overlap: int, ny: int, nx: int) -> np.ndarray:
    return feather((size, size), overlap, y_inner=(y0 > 0, y0 + size < ny), x_inner=(x0 > 0, x0 + size < nx))
