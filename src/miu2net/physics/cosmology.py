r"""Cosmology through pyccl: the convergence power spectrum and the critical surface density.

Distances are comoving, in Mpc (no h), as pyccl returns them. The default cosmology is flat
:math:`\Lambda`CDM with the Planck 2018 best fit (TT,TE,EE+lowE+lensing+BAO, Table 2 last column of
Planck Collaboration VI 2020), linear power from CAMB, non-linear power from Halofit (Takahashi 2012).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pyccl as ccl

PLANCK18 = dict(Omega_c=0.2607, Omega_b=0.04897, h=0.6766, sigma8=0.8102, n_s=0.9665)


@lru_cache(maxsize=8)
def planck18(*, transfer_function: str = "boltzmann_camb", nonlinear: str = "halofit") -> ccl.Cosmology:
    """The Planck 2018 flat ΛCDM cosmology as a ``pyccl.Cosmology`` (cached: it is immutable)."""
    return ccl.Cosmology(**PLANCK18, transfer_function=transfer_function, matter_power_spectrum=nonlinear)


def _single_plane_tracer(cosmo: ccl.Cosmology, z_source: float, n_chi: int = 1024) -> ccl.Tracer:
    r"""Convergence tracer of sources on one plane: :math:`W(\chi) = \frac32 \Omega_m H_0^2 \chi (1-\chi/\chi_s)/a`.

    pyccl's WeakLensingTracer wants a smooth n(z); a delta function is written here as its own kernel.
    ``der_angles=1`` gives the convergence's angular factor :math:`\ell(\ell+1)/(\ell+1/2)^2` (pyccl's
    shear tracer uses ``der_angles=2``, which differs by 2 % at ell = 10 and < 0.1 % above ell = 50).
    """
    chi_s = ccl.comoving_radial_distance(cosmo, 1.0 / (1.0 + z_source))
    chi = np.linspace(0.0, chi_s, n_chi)
    a = ccl.scale_factor_of_chi(cosmo, chi)
    h0_over_c = cosmo["h"] / ccl.physical_constants.CLIGHT_HMPC  # 1/Mpc
    omega_m = cosmo["Omega_c"] + cosmo["Omega_b"]
    kernel = 1.5 * h0_over_c**2 * omega_m * chi * (1.0 - chi / chi_s) / a
    tracer = ccl.Tracer()
    tracer.add_tracer(cosmo, kernel=(chi, kernel), der_bessel=-1, der_angles=1)
    return tracer


def kappa_cl(
    ell: np.ndarray,
    *,
    cosmo: ccl.Cosmology | None = None,
    z_source: float | None = 1.0,
    nz: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    r"""Convergence angular power spectrum :math:`C_\ell^{\kappa\kappa}` (non-linear, Limber).

    Args:
        ell: multipoles, in inverse radians (any shape, > 0).
        cosmo: a pyccl cosmology; default :func:`planck18`.
        z_source: redshift of a single source plane (ignored when ``nz`` is given).
        nz: source redshift distribution ``(z, n(z))``, any normalisation.

    Returns:
        :math:`C_\ell` (dimensionless, per steradian) at each ``ell``; the flat-sky power spectrum of
        :math:`\kappa` is :math:`P(\ell) = C_\ell`.
    """
    cosmo = planck18() if cosmo is None else cosmo
    ell = np.asarray(ell, dtype=np.float64)
    if nz is not None:
        tracer = ccl.WeakLensingTracer(cosmo, dndz=(np.asarray(nz[0], float), np.asarray(nz[1], float)))
    elif z_source is not None and z_source > 0:
        tracer = _single_plane_tracer(cosmo, float(z_source))
    else:
        raise ValueError("give a positive z_source or an n(z) as nz=(z, n)")
    # pyccl wants increasing ell: evaluate on the sorted unique values and map back.
    unique, inverse = np.unique(ell.ravel(), return_inverse=True)
    return ccl.angular_cl(cosmo, tracer, tracer, unique)[inverse].reshape(ell.shape)


def smail_nz(z: np.ndarray, *, z_median: float = 0.9, alpha: float = 2.0, beta: float = 1.5) -> np.ndarray:
    r"""A Smail et al. (1994) source distribution :math:`n(z) \propto z^\alpha \exp[-(z/z_0)^\beta]`.

    :math:`z_0` is set from ``z_median`` numerically. Returned normalised to unit integral on ``z``.
    """
    z = np.asarray(z, dtype=np.float64)
    fine = np.linspace(0, 10 * z_median, 20001)

    def shape(zz: np.ndarray, z0: float) -> np.ndarray:
        return zz**alpha * np.exp(-((zz / z0) ** beta))

    # Median of the Smail law scales linearly with z0: find it once for z0 = 1.
    cdf = np.cumsum(shape(fine, 1.0))
    median_unit = fine[np.searchsorted(cdf, 0.5 * cdf[-1])]
    n = shape(z, z_median / median_unit)
    return n / np.trapezoid(n, z)


def sigma_crit(z_lens: float, z_source: float, *, cosmo: ccl.Cosmology | None = None) -> float:
    r"""Critical surface density :math:`\Sigma_{\rm cr} = \frac{c^2}{4\pi G}\frac{D_s}{D_l D_{ls}}`.

    Angular-diameter distances are physical, so :math:`\Sigma_{\rm cr}` is in :math:`M_\odot/{\rm Mpc}^2`
    (physical area). Convergence is :math:`\kappa = \Sigma/\Sigma_{\rm cr}` with :math:`\Sigma` in the
    same units.
    """
    if not 0 <= z_lens < z_source:
        raise ValueError(f"need 0 <= z_lens < z_source; got z_lens={z_lens}, z_source={z_source}")
    cosmo = planck18() if cosmo is None else cosmo
    return float(ccl.sigma_critical(cosmo, a_lens=1.0 / (1.0 + z_lens), a_source=1.0 / (1.0 + z_source)))
