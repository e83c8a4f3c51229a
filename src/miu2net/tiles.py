"""Tile geometry shared by every tiled reconstruction (wide fields, networks of a fixed input size).

Tiles of ``tile`` pixels start every ``tile - overlap`` pixels, the last one flush with the map's edge.
Each tile is weighted by a feather that rises as a raised cosine across ``overlap`` pixels (at most half
the tile) from every tile edge that lies inside the map; edges on the map's border keep full weight.
"""

from __future__ import annotations

import numpy as np

from miu2net.errors import InputError


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
