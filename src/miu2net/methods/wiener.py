r"""Wiener filter: the posterior mean of a Gaussian convergence field given masked, noisy shear.

The model (Jeffrey et al. 2018, arXiv:1801.08945, on a flat grid: KS93 forward operator, per-pixel noise,
masked pixels without information, a Gaussian prior of the pyccl :math:`C_\ell` on :math:`\kappa_E` and of
:math:`r_B C_\ell` on :math:`\kappa_B`), its whitened preconditioned conjugate-gradient solve, its cost and
the padded grid that keeps the map a cut of a larger sky are :mod:`miu2net.physics.wiener`'s, where the
solver lives (it also gives the networks' whole-field Wiener input). This module is the method: its
options, the solve on a :class:`~miu2net.maps.ShearMap` and the provenance of the result. The noise
weights and the data on the padded grid are :mod:`.classical`'s, shared with the other iterative
methods.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from miu2net.maps import KappaMap, ShearMap
from miu2net.methods.base import Method, checked, options
from miu2net.methods.classical import DEFAULT_N_GAL_ARCMIN2, DEFAULT_SHAPE_NOISE_SIGMA, inverse_noise_weights
from miu2net.physics.wiener import LensingGrid, WienerSolver, margin_pixels, signal_power

# Tolerances at or above this run in float32 by default (about 7 significant digits).
SINGLE_PRECISION_TOL = 1e-5


@checked
def reconstruct(
    shear: ShearMap,
    *,
    cl_kappa: Callable[[np.ndarray], np.ndarray] | None = None,
    z_source: float | None = None,
    nz: tuple[np.ndarray, np.ndarray] | None = None,
    shape_noise_sigma: float = DEFAULT_SHAPE_NOISE_SIGMA,
    n_gal_arcmin2: float = DEFAULT_N_GAL_ARCMIN2,
    b_mode_prior: float = 0.0,
    pad: bool = True,
    tol: float = 1e-4,
    max_iter: int = 500,
    pad_pixels: int | None = None,
    single_precision: bool | None = None,
    backend: str = "numpy",
    device: str | None = None,
) -> KappaMap:
    r"""Wiener-filtered convergence (posterior mean for a Gaussian field) of a gridded shear map.

    The shear is taken as the shear :math:`\gamma` (weak-lensing approximation :math:`g \approx \gamma`).

    Args:
        shear: gridded shear with mask; its ``noise`` map (std per component) is used where present.
        cl_kappa: prior power spectrum, a function ell -> C_ell (ell in inverse radians, C_ell per
            steradian, the normalisation of :mod:`miu2net.stats.spectra`). Give at most one of
            ``cl_kappa``, ``nz``, ``z_source``.
        z_source: source redshift of a single source plane for the pyccl Planck 2018 C_ell
            (dimensionless; default 1.0, the csst preset, when neither ``cl_kappa`` nor ``nz`` is given).
        nz: source redshift distribution ``(z, n(z))`` for the pyccl C_ell instead of a single plane.
        shape_noise_sigma: total intrinsic ellipticity rms sigma_e (dimensionless, default 0.4, i.e.
            0.28 per component); used only when ``shear.noise`` is None.
        n_gal_arcmin2: source density in galaxies per arcmin² (default 50); used only when
            ``shear.noise`` is None.
        b_mode_prior: B-mode prior power as a fraction of the E-mode C_ell (dimensionless). Default 0:
            lensing makes no B modes, so kappa_E is the true posterior mean, and kappa_B (the null test)
            is the Wiener map of the 45-degree-rotated shear (a second right-hand side, solved in the
            same batched CG: twice the FFTs per iteration). A value > 0 solves E and B jointly with that
            B prior; with masks E and B then share the data and kappa_E is biased low (by about 5 % in
            amplitude at 1, csst-small with masks).
        pad: embed the map in an unobserved margin of ``pad_pixels`` on each side, filled by the prior,
            so that the map is a cut of a larger sky and no periodic wrap-around couples opposite edges;
            False treats the map as periodic.
        tol: stop the preconditioned conjugate gradients when
            :math:`\sqrt{\langle r, M^{-1}r\rangle/\langle b, M^{-1}b\rangle}` < ``tol`` for every
            right-hand side (dimensionless; :class:`WienerSolver`). Default 1e-4: the map is then within
            a few 1e-4 (rms, relative to its own rms) of the converged one on csst-like maps.
        max_iter: iteration cap of the conjugate-gradient solve (a warning is issued if reached).
        pad_pixels: width of the unobserved margin on each side in pixels (default None: 26′,
            :data:`DEFAULT_PAD_ARCMIN`, i.e. 32 pixels at 0.82′ and 64 at 0.41′), rounded up so that the
            padded sides have fast FFTs (factors 2, 3, 5). The margin only has to hold the reach of the wrap-around, not a copy of the map: the
            Wiener kernel falls to the noise within a few arcmin (S = N near ℓ ≈ 3000 for the csst
            preset), and the large, high signal-to-noise scales are fixed by the data inside the map.
            A fixed margin keeps the cost growing like the map and, since the margin's own slow modes
            are what the Fourier preconditioner cannot reach, keeps the iteration count flat (a
            margin of half the map, the previous default, took 26 iterations at 256², 0.82′, against 15).
        single_precision: run the FFTs in float32 (about 7 digits; 2-4x faster and half the memory).
            None (default): float32 when ``tol`` >= 1e-5, float64 for tighter tolerances.
        backend: ``"numpy"`` (scipy.fft on the CPU, default) or ``"torch"`` (torch.fft; on a GPU when
            one is present). Both give the same map within ``tol``.
        device: torch device for ``backend="torch"`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``); None: CUDA
            when available, else the CPU.

    Returns:
        KappaMap with the E and B Wiener maps; ``meta`` holds the options, the number of iterations,
        the final residual and whether it converged.
    """
    pad_pixels = margin_pixels(pad_pixels, shear.pixel_arcmin)
    if single_precision is None:
        single_precision = tol >= SINGLE_PRECISION_TOL
    cl_of_ell, signal = signal_power(cl_kappa=cl_kappa, z_source=z_source, nz=nz)
    grid = LensingGrid.build(shear.shape, shear.pixel_arcmin, pad=bool(pad), margin=pad_pixels)
    weights, noise = inverse_noise_weights(
        shear, grid, shape_noise_sigma=shape_noise_sigma, n_gal_arcmin2=n_gal_arcmin2
    )
    solver = WienerSolver(grid, weights, cl_of_ell, b_mode_prior=b_mode_prior, single_precision=bool(single_precision),
                          backend=backend, device=device)
    g1 = grid.embed((shear.g1 * shear.mask).astype(solver.real_dtype))
    g2 = grid.embed((shear.g2 * shear.mask).astype(solver.real_dtype))
    if b_mode_prior == 0:
        # The posterior mean of a pure-E field has no B mode; for a null test, kappa_B is the E-mode
        # Wiener map of the shear rotated by 45 degrees (gamma -> i gamma = (-gamma2, gamma1)), which
        # carries the data's B modes into E: kappa_E(rotated) = -kappa_B. Both right-hand sides share
        # one batched CG.
        results = solver.solve_many(np.stack([np.stack([g1, g2]), np.stack([-g2, g1])]), tol=tol, max_iter=max_iter)
        kappa_e = grid.crop(results[0].kappa.real).astype(np.float64)
        kappa_b = -grid.crop(results[1].kappa.real).astype(np.float64)
    else:
        results = solver.solve_many(np.stack([g1, g2])[None], tol=tol, max_iter=max_iter)
        kappa_e = grid.crop(results[0].kappa.real).astype(np.float64)
        kappa_b = grid.crop(results[0].kappa.imag).astype(np.float64)
    del g1, g2
    result = max(results, key=lambda res: res.n_iter)
    for res in results:
        if not res.converged:
            warnings.warn(
                f"Wiener filter: conjugate gradient stopped at max_iter={max_iter} with relative residual "
                f"{res.residual:.2e} > tol={tol:g}; raise max_iter or tol",
                RuntimeWarning,
                stacklevel=2,
            )
    options = {
        "signal": signal,
        "noise": noise,
        "b_mode_prior": float(b_mode_prior),
        "pad": bool(pad),
        "pad_pixels": pad_pixels,
        "padded_shape": list(grid.padded_shape),
        "tol": tol,
        "max_iter": max_iter,
        "single_precision": bool(single_precision),
        "backend": backend if backend == "numpy" else f"torch:{solver.xp.device}",
    }
    return KappaMap(
        kappa_e=kappa_e,
        kappa_b=kappa_b,
        pixel_arcmin=shear.pixel_arcmin,
        wcs=shear.wcs,
        meta={
            "method": "wiener",
            "options": options,
            "n_iter": result.n_iter,
            "residual": result.residual,
            "converged": result.converged,
        },
    )


METHOD = Method("wiener", reconstruct, options(
    "cl_kappa", "z_source", "nz", "shape_noise_sigma", "n_gal_arcmin2", "b_mode_prior", "pad", "tol",
    "max_iter", "pad_pixels", "single_precision", "backend", "device",
))
