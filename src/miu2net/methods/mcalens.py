r"""MCALens: a Gaussian (Wiener) plus a sparse (starlet) component, solved jointly (Starck et al. 2021).

Starck, Themelis, Jeffrey, Peel & Lanusse 2021 (A&A 649, A99, arXiv:2102.04127). The convergence is
the sum :math:`\kappa = \kappa_G + \kappa_S` of a Gaussian random field :math:`\kappa_G` (prior power
:math:`C_\ell` from pyccl, as in :mod:`.wiener`) and a component :math:`\kappa_S` sparse in the starlet
domain that carries the peaks (haloes):

.. math:: \min_{\kappa_G,\kappa_S} \tfrac12\|N^{-1/2}(\gamma - A(\kappa_G + \kappa_S))\|^2
          + \tfrac12 \kappa_G^\dagger S^{-1}\kappa_G \quad
          \text{s.t. } \Phi^{\rm T}\kappa_S \text{ lives on the support } \Omega .

The support :math:`\Omega` is detected once, on the starlet detail scales of the noise-weighted
backprojection :math:`\mu A^\dagger N^{-1}\gamma` (the first gradient image of :mod:`.sparse`), with the
same exact per-pixel k-sigma thresholds (:class:`.sparse.StarletDenoiser`; k + 1 on the finest scale),
keeping only positive E coefficients (``positive_peaks``) and optionally leaving out the finest
``first_detect_scale`` scales; the sparse component has no coarse scale (the large
scales belong to the Gaussian component). The problem is then solved by alternating (block coordinate
descent), each pass

1. sparse step: one gradient step on :math:`\kappa_S` with the Gaussian part fixed,
   :math:`\kappa_S \leftarrow \Phi\,[\Omega \odot \Phi^{\rm T}(\kappa_S + \mu A^\dagger N^{-1}
   (\gamma - A(\kappa_G+\kappa_S)))]`,
   then :math:`\kappa_{S,E} \ge 0` when ``positive_peaks``;
2. Gaussian step: :math:`\kappa_G = ` the Wiener filter of :math:`\gamma - A\kappa_S`
   (:class:`.wiener.WienerSolver`, conjugate gradients warm-started from the previous pass),

until the relative change of :math:`\kappa` on the map is below ``tol`` or after ``max_iter`` passes.
The reduced shear is handled as in :mod:`.sparse` (:math:`\gamma = g(1-\kappa_E)` with the current
total estimate, updated every pass). The Gaussian part lives on the padded grid (the prior fills the
margin of ``pad_pixels``: the map is a cut of a larger sky), the sparse part on the map only (as in
:mod:`.sparse`). All FFTs are single precision.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import scipy.fft as sfft

from miu2net.errors import InputError
from miu2net.maps import KappaMap, ShearMap
from miu2net.methods.base import Method, checked, options
from miu2net.methods.classical import DEFAULT_N_GAL_ARCMIN2, DEFAULT_SHAPE_NOISE_SIGMA, shear_data, shear_from_reduced
from miu2net.methods.sparse import Fista, StarletDenoiser, weights_and_step
from miu2net.methods.starlet import check_n_scales
from miu2net.physics.wiener import LensingGrid, WienerSolver, margin_pixels, signal_power

WIENER_MAX_ITER = 500  # cap of each conjugate-gradient solve of the Gaussian component


@checked
def reconstruct(
    shear: ShearMap,
    *,
    cl_kappa: Callable[[np.ndarray], np.ndarray] | None = None,
    z_source: float | None = None,
    nz: tuple[np.ndarray, np.ndarray] | None = None,
    k_sigma: float = 5.0,
    n_scales: int | None = None,
    first_detect_scale: int = 0,
    positive_peaks: bool = True,
    b_mode_prior: float = 0.0,
    reduced_shear: bool = True,
    pad: bool = True,
    tol: float = 1e-4,
    max_iter: int = 30,
    wiener_tol: float = 1e-4,
    pad_pixels: int | None = None,
    shape_noise_sigma: float = DEFAULT_SHAPE_NOISE_SIGMA,
    n_gal_arcmin2: float = DEFAULT_N_GAL_ARCMIN2,
) -> KappaMap:
    r"""MCALens convergence (Wiener-filtered Gaussian part + sparse starlet peaks) of a gridded shear map.

    Args:
        shear: gridded reduced shear with mask; its ``noise`` map (std per component) is used where present.
        cl_kappa, z_source, nz: the Gaussian component's prior C_ell, exactly as in
            :func:`miu2net.methods.wiener.reconstruct` (ell in inverse radians; default pyccl Planck 2018
            with sources at z_s = 1.0).
        k_sigma: detection level of the sparse support, in noise standard deviations of each starlet
            coefficient (dimensionless; k + 1 on the finest scale). Default 5: the support should hold
            only what the Gaussian component cannot explain; at k = 3 it also takes up fluctuations of
            the Gaussian field itself and the RMSE on pure Gaussian fields rises above the Wiener
            filter's (measured on csst-like maps), while isolated haloes are found at 5 as well.
        n_scales: number of starlet detail scales (count; structures of 1 to 2**n_scales pixels);
            None: 5, or fewer on maps under 65 pixels.
        first_detect_scale: number of finest starlet scales left out of the sparse support (default 0:
            all scales; the finest is already held at k + 1 sigma, and it carries the cusps of haloes).
        positive_peaks: keep only positive E coefficients in the support and constrain the sparse
            component's E mode to be >= 0 (haloes are overdensities).
        b_mode_prior: the Gaussian component's B-mode prior power as a fraction of the E-mode C_ell
            (dimensionless, as in :mod:`.wiener`; default 0: kappa_E is the posterior mean and kappa_B
            the Gaussian map of the 45-degree-rotated shear, a null test).
        reduced_shear: iterate gamma = g (1 - kappa_E) (reduced-shear correction); False takes g as gamma.
        pad: embed the map in an unobserved margin of ``pad_pixels`` on each side, as the Wiener filter
            does (:func:`miu2net.methods.wiener.reconstruct`): the Gaussian component's prior fills it,
            the sparse component is zero there.
        tol: stop when ||kappa_new - kappa|| / ||kappa_new|| on the map falls below this (dimensionless).
        max_iter: cap on the number of alternations.
        wiener_tol: relative preconditioned residual of each (warm-started, single-precision)
            conjugate-gradient Wiener solve (dimensionless, :class:`.wiener.WienerSolver`; each solve is
            capped at 500 iterations).
        pad_pixels: width of that margin on each side in pixels (default None: the Wiener filter's 26′;
            padded sides rounded up to fast FFT sizes). The grid grows like the map, not four times as fast.
        shape_noise_sigma: total ellipticity rms sigma_e (default 0.4), used only when ``shear.noise`` is None.
        n_gal_arcmin2: galaxies per arcmin² (default 50), used only when ``shear.noise`` is None.

    Returns:
        KappaMap with the E and B maps of kappa_G + kappa_S; ``meta`` holds the options, the number of
        alternations, of CG iterations, of support coefficients, and the convergence flag.
    """
    n_scales = check_n_scales(n_scales, shear.shape)
    if first_detect_scale >= n_scales:
        raise InputError(
            f"first_detect_scale={first_detect_scale} leaves no starlet scale for the sparse component "
            f"(n_scales={n_scales}); use first_detect_scale < n_scales"
        )
    cl_of_ell, signal = signal_power(cl_kappa=cl_kappa, z_source=z_source, nz=nz)
    pad_pixels = margin_pixels(pad_pixels, shear.pixel_arcmin)
    grid = LensingGrid.build(shear.shape, shear.pixel_arcmin, pad=bool(pad), margin=pad_pixels)
    weights, step, noise = weights_and_step(shear, grid, shape_noise_sigma, n_gal_arcmin2)
    wiener = WienerSolver(grid, weights, cl_of_ell, b_mode_prior=b_mode_prior, single_precision=True)
    denoiser = StarletDenoiser(grid, weights, step, n_scales=n_scales, k_sigma=k_sigma)
    data = shear_data(shear, grid)
    gradient = Fista(grid, weights, step, data, reduced_shear=False)

    support = denoiser.support(
        gradient.gradient_step(np.zeros(grid.shape, np.complex64))[1],
        positive_e=bool(positive_peaks),
        first_scale=first_detect_scale,
    )
    n_support = int(support[0].sum() + support[1].sum())

    kappa_s = np.zeros(grid.shape, dtype=np.complex64)
    result = wiener.solve(data, tol=wiener_tol, max_iter=WIENER_MAX_ITER)
    kappa_g, y_g = result.kappa, result.y
    cg_iterations = [result.n_iter]
    total = grid.crop(kappa_g) + kappa_s
    converged = n_support == 0
    n_pass = 0
    while not converged and n_pass < max_iter:
        n_pass += 1
        gamma = shear_from_reduced(data, (kappa_g + grid.embed(kappa_s)).real) if reduced_shear else data
        z, z_spectrum = gradient.gradient_step(kappa_s, offset=kappa_g, data=gamma)
        kappa_s = denoiser.threshold(z, z_spectrum, "support", support, keep_coarse=False)
        if positive_peaks:
            kappa_s = (np.maximum(kappa_s.real, 0) + 1j * kappa_s.imag).astype(np.complex64)
        residual_data = gamma - sfft.ifft2(gradient.kernel * sfft.fft2(grid.embed(kappa_s)), overwrite_x=True)
        result = wiener.solve(residual_data, tol=wiener_tol, max_iter=WIENER_MAX_ITER, y0=y_g)
        kappa_g, y_g = result.kappa, result.y
        cg_iterations.append(result.n_iter)
        new_total = grid.crop(kappa_g) + kappa_s
        change = float(np.linalg.norm(new_total - total))
        converged = change <= tol * float(np.linalg.norm(new_total))
        total = new_total
    if not converged:
        warnings.warn(
            f"mcalens: stopped at max_iter={max_iter} alternations before the relative change fell "
            f"below tol={tol:g}",
            RuntimeWarning,
            stacklevel=2,
        )
    options = {
        "signal": signal,
        "noise": noise,
        "k_sigma": k_sigma,
        "n_scales": n_scales,
        "first_detect_scale": first_detect_scale,
        "positive_peaks": bool(positive_peaks),
        "b_mode_prior": float(b_mode_prior),
        "reduced_shear": bool(reduced_shear),
        "pad": bool(pad),
        "tol": tol,
        "max_iter": max_iter,
        "wiener_tol": wiener_tol,
        "pad_pixels": pad_pixels,
    }
    total = total.astype(np.complex128)
    if b_mode_prior == 0:
        # Null test as in the Wiener filter: the Gaussian map of the 45-degree-rotated shear is -kappa_B.
        rotated = wiener.solve(1j * data, tol=wiener_tol, max_iter=WIENER_MAX_ITER)
        total = total.real - 1j * grid.crop(rotated.kappa).real.astype(np.float64)
    return KappaMap(
        kappa_e=total.real.copy(),
        kappa_b=total.imag.copy(),
        pixel_arcmin=shear.pixel_arcmin,
        wcs=shear.wcs,
        meta={
            "method": "mcalens",
            "options": options,
            "n_iter": n_pass,
            "cg_iterations": int(sum(cg_iterations)),
            "n_support": n_support,
            "converged": converged,
        },
    )


METHOD = Method("mcalens", reconstruct, options(
    "cl_kappa", "z_source", "nz", "k_sigma", "n_scales", "first_detect_scale", "positive_peaks",
    "b_mode_prior", "reduced_shear", "pad", "tol", "max_iter", "wiener_tol", "pad_pixels",
    "shape_noise_sigma", "n_gal_arcmin2",
))
