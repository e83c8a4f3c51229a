r"""The Wiener filter on the sphere: posterior mean of a Gaussian convergence given masked, noisy HEALPix shear.

Model (the spherical form of :mod:`miu2net.physics.wiener`). The data are the shear maps
:math:`d = A\kappa + n` on the observed HEALPix pixels (RING, (east, north) frame of
:mod:`miu2net.sphere.harmonic`). The unknowns are the harmonic coefficients :math:`\kappa_{E,\ell m}`,
:math:`\kappa_{B,\ell m}` up to ``lmax``; :math:`A = -Y_2 F` with :math:`F = {\rm diag}(f_\ell)` (the
spin factor) and :math:`Y_2` healpy's spin-2 synthesis ``alm2map_spin`` (the minus sign: healpy's
:math:`Q + iU = -\gamma`). The noise is independent per pixel with variance :math:`\sigma^2` per shear
component (:math:`N^{-1} = 0` on masked pixels). The prior is Gaussian and isotropic:
:math:`\langle|\kappa_{E,\ell m}|^2\rangle = C_\ell` (``cl_ee``, per steradian, e.g. pyccl's
:func:`miu2net.physics.cosmology.kappa_cl`) and :math:`r_B C_\ell` for B (``b_mode_prior``, as the flat
solver; 0 = no B). The monopole and dipole carry no shear and get no prior power (zero in the result).

The posterior mean :math:`(S^{-1} + A^T N^{-1} A)^{-1} A^T N^{-1} d` is solved in whitened variables
:math:`\kappa = S^{1/2} y`:

.. math:: (1 + S^{1/2} A^T N^{-1} A S^{1/2})\, y = S^{1/2} A^T N^{-1} d ,

by conjugate gradients. :math:`A^T` is the exact adjoint of :math:`A` for the real inner product of real
fields' coefficients (:math:`\langle a, b\rangle = \sum_{m=0} a b^* + 2\,{\rm Re}\sum_{m>0} a b^*`):
:math:`Y_2^T = (N_{\rm pix}/4\pi)\,` ``map2alm_spin`` without iterations (healpy's analysis is the
equal-weight quadrature :math:`4\pi/N_{\rm pix}\,Y^\dagger`), so the system is exactly symmetric positive
definite whatever the quadrature error. Preconditioner: the harmonic-diagonal
:math:`(1 + \bar w\,S f_\ell^2 N_{\rm pix}/4\pi)^{-1}` with :math:`\bar w` the mean inverse noise variance
over the sphere, nearly exact for full sky and uniform noise. Stop when
:math:`\sqrt{\langle r, M^{-1}r\rangle/\langle b, M^{-1}b\rangle} <` ``tol``.

At full sky and uniform noise the result is the harmonic filter :math:`C_\ell/(C_\ell + N_\ell)` applied
to the KS map, :math:`N_\ell = \sigma^2\,(4\pi/N_{\rm pix})/f_\ell^2` (:func:`noise_cl_ks`), up to the
HEALPix quadrature error (tested). One iteration costs one spin-2 synthesis and one analysis.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import healpy as hp
import numpy as np

from miu2net.errors import InputError
from miu2net.sphere.harmonic import check_map, eb_alm_to_shear, observed_pixels, shear_to_eb_alm, spin_factor


@dataclass(frozen=True)
class SphereWienerResult:
    """A spherical Wiener solve: kappa maps (RING), their coefficients and the CG diagnostics.

    ``kappa_e``/``kappa_b`` hold ``outside`` (default ``hp.UNSEEN``) in the masked pixels when asked;
    ``residual`` is the preconditioned relative residual reached after ``n_iter`` iterations.
    """

    kappa_e: np.ndarray
    kappa_b: np.ndarray
    kappa_e_alm: np.ndarray
    kappa_b_alm: np.ndarray
    n_iter: int
    residual: float
    converged: bool


def noise_cl_ks(noise_sigma: float, nside: int, lmax: int) -> np.ndarray:
    r"""Noise power of the KS convergence for uniform per-component noise ``noise_sigma`` on every pixel.

    :math:`N_\ell = \sigma^2\,\Omega_{\rm pix}/f_\ell^2` (white shear noise of power
    :math:`\sigma^2\Omega_{\rm pix}` in each of E and B), infinite for ℓ < 2.
    """
    f = spin_factor(lmax)
    out = np.full(lmax + 1, np.inf)
    out[2:] = noise_sigma**2 * hp.nside2pixarea(nside) / f[2:] ** 2
    return out


def _cl_array(cl_ee: np.ndarray | Callable[[np.ndarray], np.ndarray], lmax: int) -> np.ndarray:
    """C_ell for ell = 0..lmax from an array (ell = 0.. at least lmax) or a function of ell; 0 for ell < 2."""
    ell = np.arange(lmax + 1, dtype=np.float64)
    if callable(cl_ee):
        cl = np.zeros(lmax + 1)
        cl[2:] = np.asarray(cl_ee(ell[2:]), dtype=np.float64)
    else:
        cl = np.asarray(cl_ee, dtype=np.float64)
        if cl.ndim != 1 or cl.size < lmax + 1:
            raise InputError(f"cl_ee must hold C_ell for ell = 0..lmax = {lmax} at least; got shape {cl.shape}")
        cl = cl[: lmax + 1].copy()
    if not np.all(np.isfinite(cl)) or np.any(cl < 0):
        raise InputError("cl_ee must be finite and >= 0")
    cl[:2] = 0.0
    return cl


class _Operator:
    """The whitened system on stacked coefficients ``[comp, n_alm]`` (comp: E, and B when r_B > 0)."""

    def __init__(self, weights: np.ndarray, cl: np.ndarray, b_mode_prior: float, lmax: int) -> None:
        self.weights, self.lmax = weights, lmax
        self.nside = hp.npix2nside(weights.size)
        self.scale = weights.size / (4.0 * np.pi)  # Y^T = scale * map2alm (no iterations)
        ell, m = hp.Alm.getlm(lmax)
        f = spin_factor(lmax)
        self.sqrt_s = np.sqrt(cl)[ell]  # per coefficient
        self.factor = f[ell] * self.sqrt_s  # F S^{1/2}
        self.b_scale = float(np.sqrt(b_mode_prior))
        self.n_comp = 2 if self.b_scale > 0 else 1
        self.dot_weight = np.where(m == 0, 1.0, 2.0)
        w_mean = float(weights.mean())
        pre = [1.0 / (1.0 + w_mean * self.scale * self.factor**2)]
        if self.n_comp == 2:
            pre.append(1.0 / (1.0 + w_mean * self.scale * b_mode_prior * self.factor**2))
        self.precond = np.stack(pre)

    def _scales(self):
        return (self.factor, self.b_scale * self.factor)[: self.n_comp]

    def shear(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A S^{1/2} y: shear maps of whitened coefficients."""
        scales = self._scales()
        alm_b = y[1] * scales[1] if self.n_comp == 2 else np.zeros_like(y[0])
        return eb_alm_to_shear(y[0] * scales[0], alm_b, self.nside, self.lmax)

    def back(self, g1: np.ndarray, g2: np.ndarray) -> np.ndarray:
        """S^{1/2} A^T of (already noise-weighted) shear maps."""
        alm = shear_to_eb_alm(g1, g2, self.lmax, n_iter=0)
        return np.stack([self.scale * s * a for s, a in zip(self._scales(), alm)])

    def hessian(self, y: np.ndarray) -> np.ndarray:
        g1, g2 = self.shear(y)
        return y + self.back(self.weights * g1, self.weights * g2)

    def dot(self, a: np.ndarray, b: np.ndarray) -> float:
        return float(np.sum(self.dot_weight * (a * np.conj(b)).real))


def _weights(noise_sigma: np.ndarray | float, good: np.ndarray) -> np.ndarray:
    """Inverse noise variance per pixel, 0 where masked; InputError for a non-positive or non-finite sigma."""
    sigma = np.broadcast_to(np.asarray(noise_sigma, dtype=np.float64), good.shape)
    sel = sigma[good]
    if not np.all(np.isfinite(sel)) or np.any(sel <= 0):
        raise InputError("noise_sigma must be finite and > 0 in every observed pixel")
    out = np.zeros(good.shape)
    out[good] = 1.0 / sel**2
    return out


def wiener_filter(
    gamma1: np.ndarray,
    gamma2: np.ndarray,
    noise_sigma: np.ndarray | float,
    cl_ee: np.ndarray | Callable[[np.ndarray], np.ndarray],
    *,
    mask: np.ndarray | None = None,
    lmax: int | None = None,
    b_mode_prior: float = 1.0,
    tol: float = 1e-6,
    max_iter: int = 500,
    outside: float | None = hp.UNSEEN,
) -> SphereWienerResult:
    r"""Wiener-filtered :math:`(\kappa_E, \kappa_B)` of HEALPix shear maps (module docstring).

    Args:
        gamma1, gamma2: shear per pixel, full-sky RING maps, (east, north) frame.
        noise_sigma: standard deviation of each shear component per pixel (a map or one number);
            infinite where there is no data.
        cl_ee: prior :math:`C_\ell^{\kappa\kappa}` (per steradian) of the E mode: an array for
            ℓ = 0..≥lmax, or a function of ℓ (e.g. ``physics.cosmology.kappa_cl_interpolator``).
        mask: 1 observed, 0 masked; None: pixels with finite, non-UNSEEN shear and finite noise.
        lmax: band limit of the unknowns (default ``2 nside``).
        b_mode_prior: B-mode prior power as a fraction of the E prior (0: no B; kappa_B is then 0).
        tol: relative preconditioned residual at which CG stops.
        max_iter: most CG iterations.
        outside: value of the result's masked pixels (None: keep the prior's extrapolation there).

    Returns:
        :class:`SphereWienerResult` (``converged`` False when ``max_iter`` was reached first).
    """
    gamma1, nside = check_map("gamma1", gamma1)
    gamma2, _ = check_map("gamma2", gamma2)
    if gamma2.shape != gamma1.shape:
        raise InputError(f"gamma1 and gamma2 differ in size ({gamma1.size} and {gamma2.size})")
    if b_mode_prior < 0 or not np.isfinite(b_mode_prior):
        raise InputError(f"b_mode_prior must be a finite number >= 0; got {b_mode_prior!r}")
    good = observed_pixels(gamma1, gamma2, mask)
    sigma = np.broadcast_to(np.asarray(noise_sigma, dtype=np.float64), good.shape)
    if mask is None:
        good &= np.isfinite(sigma)
    if not good.any():
        raise InputError("no observed pixel: the mask is empty")
    lmax = 2 * nside if lmax is None else int(lmax)
    op = _Operator(_weights(sigma, good), _cl_array(cl_ee, lmax), b_mode_prior, lmax)
    w = op.weights
    b = op.back(w * np.where(good, gamma1, 0.0), w * np.where(good, gamma2, 0.0))
    b_norm = op.dot(b, op.precond * b)
    y, r = np.zeros_like(b), b.copy()
    z = op.precond * r
    rz = op.dot(r, z)
    p = z.copy()
    residual = float(np.sqrt(rz / b_norm)) if b_norm > 0 else 0.0
    n_iter = 0
    while residual > tol and n_iter < max_iter:
        hp_ = op.hessian(p)
        alpha = rz / op.dot(p, hp_)
        y += alpha * p
        r -= alpha * hp_
        z = op.precond * r
        rz_new = op.dot(r, z)
        p = z + (rz_new / rz) * p
        rz = rz_new
        n_iter += 1
        residual = float(np.sqrt(max(rz, 0.0) / b_norm))
    alm_e = op.sqrt_s * y[0]
    alm_b = op.b_scale * op.sqrt_s * y[1] if op.n_comp == 2 else np.zeros_like(alm_e)
    kappa_e = hp.alm2map(alm_e, nside, lmax=lmax, pol=False)
    kappa_b = hp.alm2map(alm_b, nside, lmax=lmax, pol=False)
    if outside is not None:
        kappa_e[~good], kappa_b[~good] = outside, outside
    return SphereWienerResult(kappa_e, kappa_b, alm_e, alm_b, n_iter, residual, residual <= tol)
