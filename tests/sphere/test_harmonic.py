"""Spherical KS (sphere/harmonic.py): exact spin-2 cases, the sign convention, round trips, E/B."""

from __future__ import annotations

import healpy as hp
import numpy as np
import pytest

from miu2net.errors import InputError
from miu2net.sphere.harmonic import kappa_alm_to_shear, kappa_to_shear, shear_to_kappa, shear_to_kappa_alm, spin_factor


def gaussian_blob(nside: int, ra0: float, dec0: float, sigma_deg: float, amplitude: float = 0.1):
    """A Gaussian kappa blob on the sphere and each pixel's angular distance (rad) from its centre."""
    vec = np.array(hp.pix2vec(nside, np.arange(hp.nside2npix(nside))))
    r = np.arccos(np.clip(hp.ang2vec(ra0, dec0, lonlat=True) @ vec, -1.0, 1.0))
    return amplitude * np.exp(-0.5 * (r / np.deg2rad(sigma_deg)) ** 2), r


def random_alm(rng, lmax: int) -> np.ndarray:
    """A band-limited Gaussian kappa a_lm, C_l ~ 1e-4/(l+1)^2, monopole and dipole removed."""
    ell = np.arange(lmax + 1)
    cl = 1e-4 / (ell + 1.0) ** 2
    cl[:2] = 0.0
    np.random.seed(int(rng.integers(2**31)))
    return hp.synalm(cl, lmax=lmax, new=True)


def test_spin_factor_values():
    f = spin_factor(4)
    assert f[0] == f[1] == 0.0
    np.testing.assert_allclose(f[2:], np.sqrt([4 * 1 / 6, 5 * 2 / 12, 6 * 3 / 20]))


def test_axisymmetric_l2_field_has_the_analytic_shear():
    """kappa = A P2(cos theta): psi = -A P2 / 3, gamma = (1/2) eth eth psi = -(A/2) sin^2 theta in the
    (theta, phi) frame, i.e. gamma1 = +(A/2) sin^2 theta (east-west stretch) in the (east, north) frame,
    tangential about the overdense poles; gamma2 = 0."""
    nside, amp = 32, 0.05
    theta, _ = hp.pix2ang(nside, np.arange(hp.nside2npix(nside)))
    kappa = amp * 0.5 * (3 * np.cos(theta) ** 2 - 1)
    g1, g2 = kappa_to_shear(kappa, lmax=2 * nside)
    np.testing.assert_allclose(g1, 0.5 * amp * np.sin(theta) ** 2, atol=1e-5)  # 4e-4 of the amplitude
    np.testing.assert_allclose(g2, 0.0, atol=1e-5)


def test_positive_blob_gives_the_flat_tangential_profile():
    """Gaussian kappa of width s: gamma_t(r) = kbar(<r) - kappa(r) (flat sky), > 0, and gamma_x = 0.
    Position angles and shear both in the local (east, north) frame at the equator."""
    nside, s_deg, amp, ra0 = 128, 3.0, 0.1, 40.0
    kappa, r = gaussian_blob(nside, ra0, 0.0, s_deg, amp)
    g1, g2 = kappa_to_shear(kappa)
    s = np.deg2rad(s_deg)
    ring = (r > 0.7 * s) & (r < 3.0 * s)
    ra, dec = hp.pix2ang(nside, np.flatnonzero(ring), lonlat=True)
    phi = np.arctan2(np.deg2rad(dec), np.deg2rad(ra - ra0) * np.cos(np.deg2rad(dec)))  # east towards north
    gamma = (g1 + 1j * g2)[ring] * np.exp(-2j * phi)
    g_t, g_x = -gamma.real, -gamma.imag
    rr = r[ring]
    expected = amp * (2 * s**2 / rr**2 * (1 - np.exp(-(rr**2) / (2 * s**2))) - np.exp(-(rr**2) / (2 * s**2)))
    assert np.all(g_t > 0)
    np.testing.assert_allclose(g_t, expected, rtol=0.02, atol=2e-4)
    assert np.max(np.abs(g_x)) < 0.02 * expected.max()


def test_round_trip_band_limited_field(rng):
    nside, lmax = 64, 128
    alm = random_alm(rng, lmax)
    g1, g2 = kappa_alm_to_shear(alm, nside)
    alm_e, alm_b = shear_to_kappa_alm(g1, g2, lmax=lmax)
    assert np.max(np.abs(alm_e - alm)) < 1e-3 * np.max(np.abs(alm))
    assert np.max(np.abs(alm_b)) < 1e-3 * np.max(np.abs(alm))
    # the map-level round trip kappa -> shear -> kappa
    kappa = hp.alm2map(alm, nside, lmax=lmax)
    k_e, k_b = shear_to_kappa(*kappa_to_shear(kappa, lmax=lmax), lmax=lmax)
    assert np.sqrt(np.mean((k_e - kappa) ** 2)) < 1e-3 * kappa.std()
    assert np.sqrt(np.mean(k_b**2)) < 1e-3 * kappa.std()


def test_rotation_by_45_degrees_turns_e_into_b(rng):
    nside, lmax = 32, 64
    alm = random_alm(rng, lmax)
    g1, g2 = kappa_alm_to_shear(alm, nside)
    kappa = hp.alm2map(alm, nside, lmax=lmax)
    k_e, k_b = shear_to_kappa(-g2, g1, lmax=lmax)  # gamma -> i gamma
    assert np.sqrt(np.mean((k_b - kappa) ** 2)) < 1e-3 * kappa.std()
    assert np.sqrt(np.mean(k_e**2)) < 1e-3 * kappa.std()
    # and a pure B input is put back into kappa_B by the forward operator with a B part
    b1, b2 = kappa_alm_to_shear(np.zeros_like(alm), nside, kappa_b_alm=alm)
    np.testing.assert_allclose(b1, -g2, atol=1e-12)
    np.testing.assert_allclose(b2, g1, atol=1e-12)


def test_mask_zero_fills_and_marks_outside(rng):
    nside, lmax = 32, 64
    g1, g2 = kappa_alm_to_shear(random_alm(rng, lmax), nside)
    theta, _ = hp.pix2ang(nside, np.arange(g1.size))
    mask = (theta < np.pi / 2).astype(float)
    k_e, k_b = shear_to_kappa(g1, g2, mask, lmax=lmax)
    assert np.all(k_e[mask == 0] == hp.UNSEEN) and np.all(k_b[mask == 0] == hp.UNSEEN)
    zero_filled, _ = shear_to_kappa(g1 * mask, g2 * mask, lmax=lmax, outside=None)
    np.testing.assert_allclose(k_e[mask > 0], zero_filled[mask > 0], atol=1e-12)
    g1_unseen = np.where(mask > 0, g1, hp.UNSEEN)  # UNSEEN input pixels count as masked
    k_u, _ = shear_to_kappa(g1_unseen, g2, lmax=lmax)
    np.testing.assert_allclose(k_u, k_e, atol=1e-12)
    # monopole and dipole of the result are zero
    alm_e, alm_b = shear_to_kappa_alm(g1, g2, mask, lmax=lmax)
    ell = hp.Alm.getlm(lmax)[0]
    assert np.all(alm_e[ell < 2] == 0) and np.all(alm_b[ell < 2] == 0) and np.any(alm_e[ell == 2] != 0)


def test_bad_inputs():
    with pytest.raises(InputError):
        kappa_to_shear(np.zeros(100))
    bad = np.zeros(hp.nside2npix(8))
    bad[3] = hp.UNSEEN
    with pytest.raises(InputError):
        kappa_to_shear(bad)
    with pytest.raises(InputError):
        shear_to_kappa(np.zeros(hp.nside2npix(8)), np.zeros(hp.nside2npix(4)))


def test_forward_transform_agrees_with_glass(rng, monkeypatch):
    """GLASS (an independent code) computes the shear of a convergence map as
    alm2map_spin([-sqrt((l+2)(l-1)/(l(l+1))) kappa_lm, 0]), the relation used here (Q + iU = -gamma).
    Its analysis asks for healpy's downloadable pixel weights: turned off here (no network in tests)."""
    pytest.importorskip("glass")
    import glass
    import glass.healpix

    original = glass.healpix.map2alm
    monkeypatch.setattr(glass.healpix, "map2alm", lambda *a, **k: original(*a, **{**k, "use_pixel_weights": False}))
    nside, lmax = 64, 128
    kappa = hp.alm2map(random_alm(rng, lmax), nside, lmax=lmax)
    (gamma,) = glass.from_convergence(kappa, lmax, shear=True, discretized=False)
    g1, g2 = kappa_to_shear(kappa, lmax=lmax)
    np.testing.assert_allclose(g1, gamma.real, atol=1e-6 * g1.std())
    np.testing.assert_allclose(g2, gamma.imag, atol=1e-6 * g2.std())
