r"""Noise-only error maps from random realisations pushed through the same method.

For a catalogue, each realisation rotates every galaxy's ellipticity by a random angle (uniform in
:math:`[0, 2\pi)` for the spin-2 phase), which keeps positions, weights and the ellipticity distribution
but destroys the lensing signal; for gridded input with a ``NOISE`` map, each realisation draws Gaussian
pixel noise of that standard deviation. The standard deviation of the method's :math:`\kappa_E` over the
realisations is ``SIGMA_NOISE`` and :math:`\kappa_E/\sigma` the S/N map. Each realisation is seeded from
one ``numpy.random.SeedSequence``, so the result is reproducible.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from miu2net.errors import InputError
from miu2net.maps import KappaMap, ShearMap
from miu2net.physics.shear import add_pixel_noise
from miu2net.survey.grid import Binning


def catalogue_noise_shear(shear: ShearMap, binning: Binning, rng: np.random.Generator) -> ShearMap:
    """One noise realisation of a binned catalogue: ellipticities randomly rotated, binned on the same grid."""
    e = binning.ellipticity * np.exp(1j * rng.uniform(0.0, 2 * np.pi, len(binning.ellipticity)))
    g1, g2, _ = binning.bin(e.real, e.imag)
    return shear.with_shear(g1, g2)


def gridded_noise_shear(shear: ShearMap, rng: np.random.Generator) -> ShearMap:
    """One Gaussian noise realisation on the grid, from the shear's ``NOISE`` map (masked pixels stay 0)."""
    if shear.noise is None:
        raise InputError("noise realisations of gridded input need a NOISE map (per-pixel sigma per component)")
    zero = np.zeros(shear.shape)
    g1, g2 = add_pixel_noise(rng, zero, zero, np.where(shear.observed, shear.noise, 0.0))
    return shear.with_shear(g1 * shear.mask, g2 * shear.mask)


def noise_sigma(
    draw: Callable[[np.random.Generator], ShearMap],
    run: Callable[[ShearMap], KappaMap],
    *,
    n_realisations: int,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Per-pixel standard deviation of ``run(draw(rng)).kappa_e`` over ``n_realisations`` (>= 2)."""
    if n_realisations < 2:
        raise InputError(f"need at least 2 noise realisations for a standard deviation; got {n_realisations}")
    children = np.random.SeedSequence(seed).spawn(n_realisations)
    total = total_sq = None
    for i, child in enumerate(children):
        kappa = run(draw(np.random.default_rng(child))).kappa_e
        total = kappa.copy() if total is None else total + kappa
        total_sq = kappa**2 if total_sq is None else total_sq + kappa**2
        if progress is not None:
            progress(i + 1)
    mean = total / n_realisations
    variance = np.maximum(total_sq / n_realisations - mean**2, 0.0) * n_realisations / (n_realisations - 1)
    return np.sqrt(variance)
