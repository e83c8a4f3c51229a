r"""Random convergence fields with a given angular power spectrum.

A Gaussian field is drawn in Fourier space on a box ``box_factor`` times larger than the map (same
pixel) and the map is cut from its centre, so the map is not periodic and its shear carries the
large-scale modes beyond the field, as on the sky. Normalisation as :mod:`miu2net.stats.spectra`:
:math:`\langle |\hat\kappa(\ell)|^2 \rangle = A\, C_\ell` with :math:`A` the box area.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from miu2net.stats.spectra import ARCMIN_TO_RAD, ell_grid


def gaussian_field(
    shape: tuple[int, int],
    pixel_arcmin: float,
    cl_of_ell: Callable[[np.ndarray], np.ndarray],
    rng: np.random.Generator,
    *,
    box_factor: int = 1,
) -> np.ndarray:
    """A zero-mean Gaussian random field ``[y, x]`` of power spectrum ``cl_of_ell`` (ell in inverse radians).

    Args:
        shape: map shape ``(ny, nx)``.
        pixel_arcmin: pixel side in arcmin.
        cl_of_ell: vectorised function ell -> C_ell (per steradian); it is never called at ell = 0.
        rng: NumPy random generator (the only source of randomness).
        box_factor: draw on a box this many times larger per side and cut the central map
            (1 gives a periodic map whose estimated spectrum is exactly unbiased).
    """
    box = (shape[0] * box_factor, shape[1] * box_factor)
    d = pixel_arcmin * ARCMIN_TO_RAD
    ell = ell_grid(box, pixel_arcmin)
    cl = np.zeros_like(ell)
    cl[ell > 0] = cl_of_ell(ell[ell > 0])
    if np.any(cl < 0) or not np.all(np.isfinite(cl)):
        raise ValueError("the power spectrum must be finite and non-negative")
    n_pix = box[0] * box[1]
    area = n_pix * d**2
    white = np.fft.fft2(rng.standard_normal(box))
    field = np.fft.ifft2(white * np.sqrt(cl * area / n_pix) / d**2).real
    y0 = (box[0] - shape[0]) // 2
    x0 = (box[1] - shape[1]) // 2
    return field[y0 : y0 + shape[0], x0 : x0 + shape[1]]
