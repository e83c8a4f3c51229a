"""Survey mask generators. Masks are float arrays ``[y, x]`` holding 1 (observed) and 0 (masked).

Each generator returns a boolean map of *masked* pixels (True = masked) so they can be combined with
``|``; :func:`survey_mask` combines them into a 1/0 mask with a target masked fraction. All sizes are in
pixels; callers convert from arcmin with the pixel scale.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def _grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]]
    return y + 0.5, x + 0.5


def power_law_radii(
    rng: np.random.Generator, n: int, *, r_min: float, r_max: float, slope: float
) -> np.ndarray:
    r"""Radii drawn from :math:`p(r) \propto r^{-\rm slope}` on ``[r_min, r_max]`` (inverse-CDF sampling)."""
    u = rng.uniform(size=n)
    if np.isclose(slope, 1.0):
        return r_min * (r_max / r_min) ** u
    a = 1.0 - slope
    return (r_min**a + u * (r_max**a - r_min**a)) ** (1.0 / a)


def star_holes(
    shape: tuple[int, int],
    rng: np.random.Generator,
    *,
    n_holes: int,
    r_min_pix: float = 0.5,
    r_max_pix: float = 6.0,
    slope: float = 2.5,
) -> np.ndarray:
    """Circular holes around bright stars at uniform positions, radii from a power law (many small, few large)."""
    holes = np.zeros(shape, dtype=bool)
    if n_holes <= 0:
        return holes
    yy, xx = _grid(shape)
    radii = power_law_radii(rng, n_holes, r_min=r_min_pix, r_max=r_max_pix, slope=slope)
    cy = rng.uniform(0, shape[0], n_holes)
    cx = rng.uniform(0, shape[1], n_holes)
    for y0, x0, r in zip(cy, cx, radii):
        # Work on the bounding box only: cost scales with hole area, not map area.
        y_lo, y_hi = max(int(y0 - r) - 1, 0), min(int(y0 + r) + 2, shape[0])
        x_lo, x_hi = max(int(x0 - r) - 1, 0), min(int(x0 + r) + 2, shape[1])
        sub = (yy[y_lo:y_hi, x_lo:x_hi] - y0) ** 2 + (xx[y_lo:y_hi, x_lo:x_hi] - x0) ** 2 <= max(r, 0.5) ** 2
        holes[y_lo:y_hi, x_lo:x_hi] |= sub
    return holes


def ccd_gaps(
    shape: tuple[int, int],
    rng: np.random.Generator,
    *,
    spacing_pix: float = 32.0,
    width_pix: float = 1.0,
    angle_deg: float | None = None,
) -> np.ndarray:
    """A grid of straight gap stripes between CCDs: two perpendicular families, random phase and angle.

    ``angle_deg`` None draws the focal-plane orientation uniformly in [0, 90) degrees.
    """
    yy, xx = _grid(shape)
    angle = np.deg2rad(rng.uniform(0, 90) if angle_deg is None else angle_deg)
    u = xx * np.cos(angle) + yy * np.sin(angle) + rng.uniform(0, spacing_pix)
    v = -xx * np.sin(angle) + yy * np.cos(angle) + rng.uniform(0, spacing_pix)
    return (np.mod(u, spacing_pix) < width_pix) | (np.mod(v, spacing_pix) < width_pix)


def survey_edge(
    shape: tuple[int, int],
    rng: np.random.Generator,
    *,
    depth_pix: float = 8.0,
    roughness_pix: float = 6.0,
    n_sides: int | None = None,
) -> np.ndarray:
    """An irregular survey boundary entering from one or more sides of the map.

    Each chosen side is masked up to a smooth random depth (mean ``depth_pix``, correlation length
    ``roughness_pix`` along the side), like the ragged edge of a tiled footprint.
    """
    ny, nx = shape
    edge = np.zeros(shape, dtype=bool)
    n_sides = int(rng.integers(1, 3)) if n_sides is None else n_sides
    for side in rng.choice(4, size=min(n_sides, 4), replace=False):
        length = nx if side in (0, 1) else ny
        profile = ndimage.gaussian_filter1d(rng.standard_normal(length), roughness_pix, mode="wrap")
        profile = profile / (profile.std() + 1e-12)
        depth = np.clip(depth_pix * (1.0 + 0.5 * profile), 0, None)
        if side == 0:  # bottom (low y)
            edge |= np.arange(ny)[:, None] < depth[None, :]
        elif side == 1:  # top
            edge |= (ny - 1 - np.arange(ny))[:, None] < depth[None, :]
        elif side == 2:  # left (low x)
            edge |= np.arange(nx)[None, :] < depth[:, None]
        else:  # right
            edge |= (nx - 1 - np.arange(nx))[None, :] < depth[:, None]
    return edge


def survey_mask(
    shape: tuple[int, int],
    rng: np.random.Generator,
    *,
    target_fraction: float = 0.15,
    pixel_arcmin: float = 0.41,
    star_r_min_arcmin: float = 0.2,
    star_r_max_arcmin: float = 2.5,
    star_slope: float = 2.5,
    ccd_spacing_arcmin: float = 13.0,
    ccd_width_arcmin: float = 0.4,
    edge_depth_arcmin: float = 3.0,
    ccd_gaps_on: bool = True,
    edge_on: bool = True,
    max_holes: int = 100_000,
) -> np.ndarray:
    """A realistic mask (1 observed, 0 masked) with masked fraction close to ``target_fraction``.

    CCD gaps and an irregular edge are laid first; star holes (power-law radii) are then added in
    batches until the masked fraction reaches the target. If gaps and edge alone exceed the target,
    the edge is dropped, then the gaps, so the target is met from below where possible. The result is
    within about one large hole's area of the target (checked in the tests).
    """
    if not 0.0 <= target_fraction < 1.0:
        raise ValueError(f"target_fraction must lie in [0, 1); got {target_fraction}")
    masked = np.zeros(shape, dtype=bool)
    if target_fraction == 0:
        return np.ones(shape)
    scale = 1.0 / pixel_arcmin
    if ccd_gaps_on:
        # A gap narrower than a pixel would be sampled at pixel centres as a dashed line: it is
        # widened to one pixel (the pixels it crosses lose most of their galaxies anyway).
        masked |= ccd_gaps(shape, rng, spacing_pix=ccd_spacing_arcmin * scale,
                           width_pix=max(ccd_width_arcmin * scale, 1.0))
    if edge_on:
        edge = survey_edge(shape, rng, depth_pix=edge_depth_arcmin * scale, roughness_pix=4 * scale)
        if (masked | edge).mean() <= target_fraction:
            masked |= edge
    if masked.mean() > target_fraction:
        masked = np.zeros(shape, dtype=bool)
    r_min, r_max = star_r_min_arcmin * scale, star_r_max_arcmin * scale
    n_total = 0
    while masked.mean() < target_fraction and n_total < max_holes:
        missing = (target_fraction - masked.mean()) * masked.size
        mean_area = np.pi * np.mean(power_law_radii(rng, 256, r_min=r_min, r_max=r_max, slope=star_slope) ** 2)
        batch = int(max(1, 0.5 * missing / max(mean_area, 1.0)))
        masked |= star_holes(shape, rng, n_holes=batch, r_min_pix=r_min, r_max_pix=r_max, slope=star_slope)
        n_total += batch
    return (~masked).astype(np.float64)
