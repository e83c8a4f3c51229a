"""Cosmology through pyccl, checked against independent routes (pyccl's own n(z) tracer, astropy distances)."""

import numpy as np
import pyccl as ccl
from astropy import constants as const
from astropy import units as u
from astropy.cosmology import FlatLambdaCDM

from miu2net.physics.cosmology import PLANCK18, kappa_cl, planck18, sigma_crit, smail_nz


def test_single_plane_equals_narrow_nz():
    ell = np.geomspace(30, 2e4, 12)
    z = np.linspace(0.9, 1.1, 2001)
    narrow = np.exp(-0.5 * ((z - 1.0) / 0.003) ** 2)
    import pyccl as ccl

    cosmo = planck18()
    tracer = ccl.WeakLensingTracer(cosmo, dndz=(z, narrow))
    shear_cl = ccl.angular_cl(cosmo, tracer, tracer, ell)
    # pyccl's WeakLensingTracer gives the shear E-mode spectrum; the convergence's differs by the spin
    # factor l(l+1)/((l+2)(l-1)) (Kilbinger et al. 2017), 0.2 % at l = 30.
    np.testing.assert_allclose(kappa_cl(ell, z_source=1.0), shear_cl * ell * (ell + 1) / ((ell + 2) * (ell - 1)),
                               rtol=1e-3, err_msg="single-plane convergence spectrum disagrees with pyccl")


def test_cl_magnitude_and_dependence():
    ell = np.array([100.0, 1000.0, 5000.0])
    cl = kappa_cl(ell, z_source=1.0)
    # Order of magnitude of the z_s = 1 convergence spectrum: l(l+1)C_l/2pi ~ 1e-4 at l = 1000.
    assert 3e-5 < ell[1] * (ell[1] + 1) * cl[1] / (2 * np.pi) < 3e-4
    assert np.all(kappa_cl(ell, z_source=2.0) > cl), "more distant sources must see more lensing"
    low_s8 = ccl.Cosmology(**{**PLANCK18, "sigma8": 0.7}, matter_power_spectrum="halofit")
    assert np.all(kappa_cl(ell, cosmo=low_s8) < cl)


def test_smail_nz_median():
    z = np.linspace(0, 5, 5001)
    n = smail_nz(z, z_median=0.9)
    np.testing.assert_allclose(np.trapezoid(n, z), 1.0, rtol=1e-6)
    cdf = np.cumsum(n) / np.sum(n)
    np.testing.assert_allclose(z[np.searchsorted(cdf, 0.5)], 0.9, atol=0.01)


def test_sigma_crit_against_astropy():
    cosmo = planck18()
    h = cosmo["h"]
    astro = FlatLambdaCDM(H0=100 * h, Om0=cosmo["Omega_c"] + cosmo["Omega_b"], Tcmb0=2.7255 * u.K,
                          Neff=cosmo["Neff"], m_nu=0 * u.eV)
    for zl, zs in [(0.3, 1.0), (0.5, 2.0)]:
        d_l = astro.angular_diameter_distance(zl)
        d_s = astro.angular_diameter_distance(zs)
        d_ls = astro.angular_diameter_distance(zl, zs)
        expected = (const.c**2 / (4 * np.pi * const.G) * d_s / (d_l * d_ls)).to_value(u.Msun / u.Mpc**2)
        np.testing.assert_allclose(sigma_crit(zl, zs), expected, rtol=2e-3,
                                   err_msg="Sigma_crit disagrees with astropy's distances")
