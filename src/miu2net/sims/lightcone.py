r"""Convergence maps drawn from a simulation's lens planes: Born approximation, random plane transforms.

The light cone is a stack of slabs :math:`[\chi_j, \chi_{j+1})` of one box side each
(:mod:`miu2net.sims.nbody`). In the Born approximation (the deflections along the unperturbed ray are
neglected),

.. math::

    \kappa(\boldsymbol\theta) = \sum_j w_j \left[\frac{\Sigma_j}{\bar\Sigma}(\chi^{\rm mid}_j\boldsymbol\theta
        + \mathbf{s}_j) - 1\right], \qquad
    w_j = \frac32\Omega_m\left(\frac{H_0}{c}\right)^2 \int_{\chi_j}^{\chi_{j+1}}
        \frac{\chi}{a(\chi)}\, q(\chi)\, d\chi,

with the lensing efficiency :math:`q(\chi) = \int n(\chi') (1 - \chi/\chi')_+ d\chi'` of the sources
(a single plane: :math:`q = (1-\chi/\chi_s)_+`), :math:`\Sigma_j/\bar\Sigma` the slab's projected density
contrast (mean 1) and :math:`\chi^{\rm mid}_j` its middle distance. Every slab gets its own random
projection axis, rotation by a multiple of 90°, flip and periodic shift :math:`\mathbf s_j`, so a few
simulations give many nearly independent maps. Where the field is wider than the box at a slab's
distance, the slab repeats periodically (box tiling); with the default 64 Mpc/h box this happens beyond
:math:`\chi \approx 2100` Mpc/h (z ≈ 0.9) for a 1.75° field, where the lensing weight of z_s = 1 sources is
small, but already beyond :math:`\chi \approx 1050` Mpc/h for the 3.5° truth box the map is cut from (its
shear then feels periodic copies of mass outside the map; the map itself repeats nothing below z ≈ 0.9).
Slabs that share a snapshot draw their axes independently: one pair in three shows the same projected
structures at two distances.

Each map pixel is the mean of 2×2 bilinear samples of the plane (pixel integration), after the plane is
block-averaged to no finer than half a map pixel at the slab's distance; the planes have the windows of
their CIC deposit and of the bilinear read divided out when loaded
(:func:`miu2net.sims.plane_bank.deconvolved`). Flat sky: angles map to comoving transverse distances
linearly.

Beyond Born: lens-lens coupling and the correction for the deflected ray paths add power of order 1 %
at :math:`\ell \sim 10^4` and a small B-mode (Hilbert et al. 2009, Petri et al. 2017); the reduced shear
used downstream is the leading non-Born-like correction and is kept.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
from scipy import ndimage

from miu2net.physics.units import ARCMIN_TO_RAD

#: :math:`H_0/c` in h/Mpc.
H0_OVER_C = 1.0 / 2997.92458


def lensing_efficiency(chi: np.ndarray, chi_source: np.ndarray, weights: np.ndarray) -> np.ndarray:
    r""":math:`q(\chi) = \sum_s w_s (1-\chi/\chi_s)_+ / \sum_s w_s` for sources at ``chi_source`` with ``weights``."""
    chi = np.asarray(chi, float)[:, None]
    chi_source = np.asarray(chi_source, float)[None, :]
    weights = np.asarray(weights, float)
    efficiency = np.clip(1.0 - chi / chi_source, 0.0, None)
    return efficiency @ weights / weights.sum()


def slab_weights(chi_edges: np.ndarray, omega_m: float, a_of_chi, chi_source: np.ndarray,
                 source_weights: np.ndarray, n_sub: int = 64) -> np.ndarray:
    """Born weights :math:`w_j` of the slabs (module docstring); ``a_of_chi`` maps Mpc/h to a scale factor."""
    out = np.zeros(len(chi_edges) - 1)
    for j, (lo, hi) in enumerate(pairwise(chi_edges)):
        chi = np.linspace(lo, hi, n_sub + 1)
        chi = np.maximum(chi, 1e-6)
        integrand = chi / a_of_chi(chi) * lensing_efficiency(chi, chi_source, source_weights)
        out[j] = 1.5 * omega_m * H0_OVER_C**2 * np.trapezoid(integrand, chi)
    return out


def transformed_plane(plane: np.ndarray, rotation: int, flip: bool) -> np.ndarray:
    """A plane rotated by ``rotation`` × 90° and optionally flipped left-right (float32 copy)."""
    out = np.rot90(plane, k=int(rotation))
    if flip:
        out = out[:, ::-1]
    return np.ascontiguousarray(out, dtype=np.float32)


def block_mean(plane: np.ndarray, factor: int) -> np.ndarray:
    """Mean over ``factor`` × ``factor`` blocks (``factor`` divides the plane's side)."""
    if factor <= 1:
        return plane
    n = plane.shape[0] // factor
    return plane.reshape(n, factor, n, factor).mean(axis=(1, 3))


def sample_plane(plane: np.ndarray, box_mpc_h: float, chi: float, n_pixels: int, pixel_arcmin: float,
                 shift: tuple[float, float], subsamples: int = 2) -> np.ndarray:
    """The plane's pixel means on an ``n_pixels``² map of ``pixel_arcmin`` centred on the plane's ``shift``.

    ``plane`` is periodic with side ``box_mpc_h`` (comoving Mpc/h) and sits at distance ``chi``; ``shift``
    (Mpc/h, x then y) is where the map's centre falls on it.
    """
    n_plane = plane.shape[0]
    cell = box_mpc_h / n_plane
    pixel = chi * pixel_arcmin * ARCMIN_TO_RAD  # comoving size of a map pixel on the plane
    factor = 1
    while factor * 2 * cell <= pixel / 2 and n_plane % (factor * 2) == 0:
        factor *= 2
    coarse = block_mean(plane, factor)
    cell *= factor
    offsets = (np.arange(subsamples) + 0.5) / subsamples - 0.5
    centres = (np.arange(n_pixels) + 0.5 - 0.5 * n_pixels) * pixel
    pos = (centres[:, None] + offsets[None, :] * pixel).ravel()  # [n * s]
    ux = (pos + shift[0]) / cell - 0.5
    uy = (pos + shift[1]) / cell - 0.5
    yy, xx = np.meshgrid(uy, ux, indexing="ij")
    values = ndimage.map_coordinates(coarse, [yy.ravel(), xx.ravel()], order=1, mode="grid-wrap")
    s = subsamples
    return values.reshape(n_pixels, s, n_pixels, s).mean(axis=(1, 3))


def born_kappa(planes: np.ndarray, weights: np.ndarray, chi_mid: np.ndarray, box_mpc_h: float, n_pixels: int,
               pixel_arcmin: float, rng: np.random.Generator, slab_snapshot: np.ndarray | None = None
               ) -> tuple[np.ndarray, dict]:
    """One convergence map ``[y, x]`` from ``planes`` ``[n_snapshot, 3, n, n]`` (module docstring).

    Slab ``j`` uses snapshot ``slab_snapshot[j]`` (default: ``j``). Slabs of zero weight (beyond every
    source) are skipped. Returns the map and the transforms drawn.
    """
    kappa = np.zeros((n_pixels, n_pixels))
    n_slab = len(weights)
    if slab_snapshot is None:
        slab_snapshot = np.arange(n_slab)
    axes = rng.integers(0, 3, size=n_slab)
    rotations = rng.integers(0, 4, size=n_slab)
    flips = rng.integers(0, 2, size=n_slab).astype(bool)
    shifts = rng.uniform(0.0, box_mpc_h, size=(n_slab, 2))
    for j in range(n_slab):
        if weights[j] <= 0:
            continue
        plane = transformed_plane(planes[slab_snapshot[j], axes[j]], rotations[j], flips[j])
        sampled = sample_plane(plane, box_mpc_h, chi_mid[j], n_pixels, pixel_arcmin, tuple(shifts[j]))
        kappa += weights[j] * (sampled - 1.0)
    return kappa, {"axes": axes, "rotations": rotations, "flips": flips, "shifts": shifts}
