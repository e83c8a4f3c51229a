"""The spherical Wiener filter (sphere/wiener.py): the exact harmonic filter, signal recovery, pure noise,
a masked solve, the adjoint."""

from __future__ import annotations

import healpy as hp
import numpy as np
import pytest

from miu2net.errors import InputError
from miu2net.sphere.harmonic import (
    eb_alm_to_shear,
    kappa_alm_to_shear,
    shear_to_eb_alm,
    shear_to_kappa_alm,
    spin_factor,
)
from miu2net.sphere.wiener import noise_cl_ks, wiener_filter

NSIDE = 32


def prior_cl(lmax: int) -> np.ndarray:
    ell = np.arange(lmax + 1, dtype=float)
    cl = 1e-5 * 100.0 / (ell + 10.0) ** 2
    cl[:2] = 0.0
    return cl


def realisation(seed: int, lmax: int) -> np.ndarray:
    np.random.seed(seed)
    return hp.synalm(prior_cl(lmax), lmax=lmax, new=True)


def test_adjoint_of_the_spin2_synthesis(rng):
    """<A a, g> = (Npix / 4 pi) <a, analysis(g)> for the real inner product of coefficients (m > 0 twice)."""
    lmax, npix = 48, hp.nside2npix(NSIDE)
    ell, m = hp.Alm.getlm(lmax)
    a = [rng.normal(size=ell.size) + 1j * np.where(m > 0, rng.normal(size=ell.size), 0.0) for _ in range(2)]
    g1, g2 = rng.normal(size=(2, npix))
    s1, s2 = eb_alm_to_shear(a[0], a[1], NSIDE, lmax)
    back = shear_to_eb_alm(g1, g2, lmax, n_iter=0)
    w = np.where(m == 0, 1.0, 2.0)
    lhs = s1 @ g1 + s2 @ g2
    rhs = npix / (4 * np.pi) * sum(np.sum(w * (x * np.conj(y)).real) for x, y in zip(a, back))
    assert lhs == pytest.approx(rhs, rel=1e-10)


def test_full_sky_uniform_noise_equals_the_harmonic_filter(rng):
    """C_l / (C_l + N_l) applied to the KS coefficients, N_l = sigma^2 Omega_pix / f_l^2 (E and B alike).

    Exact but for HEALPix's equal-weight quadrature, whose (4 pi / Npix) Y^T Y departs from the identity
    by ~1e-3 of the coefficients (the tolerance); a wrong noise or prior normalisation is off by far more."""
    lmax, sigma = NSIDE, 0.01
    g1, g2 = kappa_alm_to_shear(realisation(1, lmax), NSIDE, lmax)
    g1 = g1 + sigma * rng.normal(size=g1.size)
    g2 = g2 + sigma * rng.normal(size=g2.size)
    result = wiener_filter(g1, g2, sigma, prior_cl(lmax), lmax=lmax, tol=1e-10)
    assert result.converged and result.n_iter < 20
    ks_e, ks_b = shear_to_kappa_alm(g1, g2, lmax=lmax, n_iter=0)
    cl, nl = prior_cl(lmax), noise_cl_ks(sigma, NSIDE, lmax)
    filt = np.where(np.isfinite(nl), cl / (cl + nl), 0.0)
    assert 0.2 < filt[2:].min() and filt[2:].max() < 0.99  # a filter that matters at every ell
    expected_e, expected_b = hp.almxfl(ks_e, filt), hp.almxfl(ks_b, filt)
    scale = np.abs(expected_e).max()
    assert np.abs(result.kappa_e_alm - expected_e).max() < 2e-3 * scale
    assert np.abs(result.kappa_b_alm - expected_b).max() < 2e-3 * scale
    wrong = hp.almxfl(ks_e, np.where(np.isfinite(nl), cl / (cl + 1.5 * nl), 0.0))  # 50 % more noise power
    assert np.abs(wrong - expected_e).max() > 10 * np.abs(result.kappa_e_alm - expected_e).max()
    assert np.all(result.kappa_e != hp.UNSEEN)


def test_low_noise_recovers_the_input_and_pure_noise_is_damped(rng):
    lmax, npix = 2 * NSIDE, hp.nside2npix(NSIDE)
    truth = realisation(2, lmax)
    g1, g2 = kappa_alm_to_shear(truth, NSIDE, lmax)
    sigma = 1e-5  # S/N per mode > 100 at every ell
    result = wiener_filter(g1 + sigma * rng.normal(size=npix), g2 + sigma * rng.normal(size=npix), sigma,
                           prior_cl(lmax), lmax=lmax, b_mode_prior=0.0)
    kappa = hp.alm2map(truth, NSIDE, lmax=lmax)
    assert np.sqrt(np.mean((result.kappa_e - kappa) ** 2)) < 0.02 * kappa.std()
    assert np.all(result.kappa_b == 0)  # no B prior: no B mode
    # pure noise at low S/N: the output variance is sum_l (2l+1)/4pi C_l^2/(C_l + N_l), far below the prior's
    sigma = 0.3
    noise = wiener_filter(sigma * rng.normal(size=npix), sigma * rng.normal(size=npix), sigma, prior_cl(lmax),
                          lmax=lmax)
    ell = np.arange(lmax + 1)
    cl, nl = prior_cl(lmax), noise_cl_ks(sigma, NSIDE, lmax)
    expected = np.sum((2 * ell[2:] + 1) / (4 * np.pi) * cl[2:] ** 2 / (cl[2:] + nl[2:]))
    prior_var = np.sum((2 * ell + 1) / (4 * np.pi) * cl)
    assert expected < 0.05 * prior_var
    assert noise.kappa_e.var() == pytest.approx(expected, rel=0.25)
    assert noise.kappa_b.var() == pytest.approx(expected, rel=0.25)


def test_masked_solve_converges_and_solves_the_normal_equations(rng):
    lmax, npix = 2 * NSIDE, hp.nside2npix(NSIDE)
    truth = realisation(3, lmax)
    g1, g2 = kappa_alm_to_shear(truth, NSIDE, lmax)
    theta, phi = hp.pix2ang(NSIDE, np.arange(npix))
    mask = ((np.abs(np.cos(theta)) > 0.2) & (phi > 1.0)).astype(float)  # galactic-like cut and a hole
    sigma = np.where(mask > 0, 0.002 * (1 + rng.uniform(size=npix)), np.inf)  # non-uniform noise
    g1 = np.where(mask > 0, g1 + sigma * rng.normal(size=npix), 0.0)
    g2 = np.where(mask > 0, g2 + np.where(mask > 0, sigma, 0) * rng.normal(size=npix), 0.0)
    tol = 1e-7
    result = wiener_filter(g1, g2, sigma, prior_cl(lmax), mask=mask, lmax=lmax, tol=tol, outside=None)
    assert result.converged and result.residual <= tol and result.n_iter < 200
    # independent check of the solution: (S^-1 + A^T N^-1 A) kappa = A^T N^-1 d on the modes l >= 2
    ell = hp.Alm.getlm(lmax)[0]
    f = spin_factor(lmax)[ell]
    w = np.where(mask > 0, 1.0 / np.where(mask > 0, sigma, 1.0) ** 2, 0.0)
    scale = npix / (4 * np.pi)
    m1, m2 = eb_alm_to_shear(f * result.kappa_e_alm, f * result.kappa_b_alm, NSIDE, lmax)
    lhs = [scale * f * a for a in shear_to_eb_alm(w * m1, w * m2, lmax, n_iter=0)]
    rhs = [scale * f * a for a in shear_to_eb_alm(w * g1, w * g2, lmax, n_iter=0)]
    cl = prior_cl(lmax)[ell]
    keep = ell >= 2
    for k, (left, right) in zip((result.kappa_e_alm, result.kappa_b_alm), zip(lhs, rhs)):
        total = left[keep] + k[keep] / cl[keep]
        assert np.abs(total - right[keep]).max() < 1e-4 * np.abs(right[keep]).max()
    # and inside the footprint it tracks the truth
    kappa = hp.alm2map(truth, NSIDE, lmax=lmax)
    inside = mask > 0
    assert np.corrcoef(result.kappa_e[inside], kappa[inside])[0, 1] > 0.97


def test_bad_inputs():
    npix = hp.nside2npix(8)
    zeros = np.zeros(npix)
    with pytest.raises(InputError):
        wiener_filter(zeros, zeros, 0.0, prior_cl(16), lmax=16)
    with pytest.raises(InputError):
        wiener_filter(zeros, zeros, 0.1, prior_cl(8), lmax=16)  # C_l too short
    with pytest.raises(InputError):
        wiener_filter(zeros, zeros, 0.1, prior_cl(16), lmax=16, mask=np.zeros(npix))
