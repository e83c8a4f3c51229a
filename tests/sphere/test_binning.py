"""Catalogue -> HEALPix shear maps (sphere/binning.py): sums, chunks, noise, NSIDE rule, orientation."""

from __future__ import annotations

import healpy as hp
import numpy as np
import pytest

from miu2net.errors import InputError
from miu2net.sphere.binning import ShearAccumulator, bin_catalogue_healpix, footprint_nside_default, nside_pixel_arcmin
from miu2net.sphere.harmonic import kappa_to_shear, shear_to_kappa


def random_cap(rng, n: int, ra0: float, dec0: float, radius_deg: float):
    """Uniform positions (deg) in a spherical cap."""
    z0 = np.cos(np.deg2rad(radius_deg))
    z = rng.uniform(z0, 1.0, n)
    phi = rng.uniform(0, 2 * np.pi, n)
    vec = np.stack([np.sqrt(1 - z**2) * np.cos(phi), np.sqrt(1 - z**2) * np.sin(phi), z])
    rot = hp.Rotator(rot=(ra0, dec0 - 90.0, 0.0), eulertype="ZYX", deg=True).get_inverse()
    ra, dec = hp.vec2ang(rot(vec).T, lonlat=True)
    return ra % 360.0, dec


def test_nside_rule():
    assert footprint_nside_default(0.41) == 8192
    assert footprint_nside_default(0.82) == 4096
    assert footprint_nside_default(3.44) == 1024
    assert footprint_nside_default(60.0) == 64
    assert footprint_nside_default(pixel_area_arcmin2=0.82**2) == 4096
    assert footprint_nside_default(0.01) == 8192  # clipped
    for nside in (64, 1024, 8192):  # an NSIDE's own pixel scale gives it back
        assert footprint_nside_default(nside_pixel_arcmin(nside)) == nside
    assert nside_pixel_arcmin(8192) == pytest.approx(0.4294, abs=1e-4)
    with pytest.raises(InputError):
        footprint_nside_default()
    with pytest.raises(InputError):
        footprint_nside_default(-1.0)


def test_sums_against_a_direct_computation_and_chunks(rng):
    nside, n = 16, 20000
    ra, dec = random_cap(rng, n, 30.0, -20.0, 25.0)
    e1, e2 = rng.normal(0, 0.2, (2, n))
    w = rng.uniform(0.2, 2.0, n)
    maps = bin_catalogue_healpix(ra, dec, e1, e2, w, nside=nside, shape_noise_sigma=0.3)
    pix = hp.ang2pix(nside, np.deg2rad(90 - dec), np.deg2rad(ra))  # theta/phi form, independently
    for p in np.unique(pix)[::37]:
        sel = pix == p
        assert maps.gamma1[p] == pytest.approx(np.sum(w[sel] * e1[sel]) / w[sel].sum(), rel=1e-12)
        assert maps.gamma2[p] == pytest.approx(np.sum(w[sel] * e2[sel]) / w[sel].sum(), rel=1e-12)
        expected = 0.3 / np.sqrt(2) * np.sqrt(np.sum(w[sel] ** 2)) / w[sel].sum()
        assert maps.noise[p] == pytest.approx(expected, rel=1e-12)
        assert maps.n_gal[p] == sel.sum()
    empty = np.setdiff1d(np.arange(hp.nside2npix(nside)), pix)
    assert np.all(maps.mask[empty] == 0) and np.all(np.isinf(maps.noise[empty])) and np.all(maps.gamma1[empty] == 0)
    assert maps.mask.sum() == np.unique(pix).size
    # chunks, and a merge of two accumulators (a Dask reduction), give the same maps
    acc = ShearAccumulator(nside)
    for part in np.array_split(np.arange(n), 7):
        acc.add(ra[part], dec[part], e1[part], e2[part], w[part])
    half = n // 2
    left = ShearAccumulator(nside).add(ra[:half], dec[:half], e1[:half], e2[:half], w[:half])
    right = ShearAccumulator(nside).add(ra[half:], dec[half:], e1[half:], e2[half:], w[half:])
    for other in (acc.finish(0.3), left.merge(right).finish(0.3)):
        np.testing.assert_allclose(other.gamma1, maps.gamma1, rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(other.n_gal, maps.n_gal)
    # the measured shape noise: s^2 = sum w^2 |e|^2 / (2 sum w^2) = 0.2^2
    assert acc.finish().per_component_sigma == pytest.approx(0.2, rel=0.02)
    with pytest.raises(InputError):
        ShearAccumulator(16).merge(ShearAccumulator(32))


def test_noise_map_matches_the_scatter(rng):
    nside, n, s = 8, 200000, 0.25
    ra, dec = random_cap(rng, n, 200.0, 50.0, 30.0)
    e1, e2 = rng.normal(0, s, (2, n))
    w = rng.uniform(0.5, 1.5, n)
    maps = bin_catalogue_healpix(ra, dec, e1, e2, w, nside=nside, shape_noise_sigma=s * np.sqrt(2))
    full = maps.n_gal > 500
    z = np.concatenate([maps.gamma1[full] / maps.noise[full], maps.gamma2[full] / maps.noise[full]])
    assert z.size > 100
    assert z.std() == pytest.approx(1.0, abs=0.12)


def tangential_catalogue(rng, ra0, dec0, n, sigma_deg, amp, shape_noise):
    """Galaxies around a Gaussian kappa blob with the flat-sky tangential shear, e = -gamma_t e^{2i phi},
    phi the position angle (east towards north) of the galaxy about the blob in its own (east, north) frame:
    the catalogue convention of survey/catalogue.py, built without the sphere package."""
    ra, dec = random_cap(rng, n, ra0, dec0, 20.0)
    a, d, a0, d0 = np.deg2rad(ra), np.deg2rad(dec), np.deg2rad(ra0), np.deg2rad(dec0)
    r = np.arccos(np.clip(np.sin(d) * np.sin(d0) + np.cos(d) * np.cos(d0) * np.cos(a - a0), -1, 1))
    bearing = np.arctan2(np.sin(a0 - a) * np.cos(d0), np.cos(d) * np.sin(d0) - np.sin(d) * np.cos(d0) * np.cos(a0 - a))
    phi = np.pi / 2 - bearing  # direction towards the blob, from east towards north (spin 2: +pi is the same)
    s = np.deg2rad(sigma_deg)
    x = r**2 / (2 * s**2)
    with np.errstate(invalid="ignore", divide="ignore"):
        g_t = amp * np.where(x > 1e-8, (1 - np.exp(-x)) / np.where(x > 1e-8, x, 1) - np.exp(-x), 0.0)
    e = -g_t * np.exp(2j * phi) + shape_noise * (rng.normal(size=n) + 1j * rng.normal(size=n))
    return ra, dec, e.real, e.imag


def test_a_tangential_catalogue_gives_a_positive_e_peak_at_the_blob(rng):
    """Bin and invert: the E peak is positive and at the blob; flipping e2 or both components (the
    healpy-basis sign errors) destroys it."""
    nside, ra0, dec0, amp = 64, 120.0, 35.0, 0.05
    ra, dec, e1, e2 = tangential_catalogue(rng, ra0, dec0, 300000, 3.0, amp, 0.05)
    maps = bin_catalogue_healpix(ra, dec, e1, e2, nside=nside)
    centre = hp.ang2pix(nside, ra0, dec0, lonlat=True)
    inner = np.zeros(maps.mask.size, bool)
    inner[hp.query_disc(nside, hp.ang2vec(ra0, dec0, lonlat=True), np.deg2rad(12.0))] = True
    peaks = {}
    for name, (g1, g2) in {"right": (maps.gamma1, maps.gamma2), "flip_e2": (maps.gamma1, -maps.gamma2),
                           "flip_both": (-maps.gamma1, -maps.gamma2)}.items():
        k_e, k_b = shear_to_kappa(g1, g2, maps.mask, lmax=2 * nside)
        peaks[name] = (k_e, k_b)
    k_e, k_b = peaks["right"]
    best = np.flatnonzero(inner)[np.argmax(k_e[inner])]
    assert hp.rotator.angdist(hp.pix2ang(nside, best), hp.pix2ang(nside, centre)) < 1.5 * hp.nside2resol(nside)
    assert 0.6 * amp < k_e[centre] < 1.2 * amp
    assert np.std(k_b[inner]) < 0.15 * k_e[centre]
    assert peaks["flip_both"][0][centre] < -0.6 * amp  # Q + iU fed as +(e1 + i e2): a negative peak
    k_e_flip, k_b_flip = peaks["flip_e2"]
    assert k_e_flip[centre] < 0.3 * k_e[centre] and np.std(k_b_flip[inner]) > 2 * np.std(k_b[inner])
    # the binned catalogue agrees with the forward spherical KS of the same blob, component by component
    vec = np.array(hp.pix2vec(nside, np.arange(maps.mask.size)))
    r = np.arccos(np.clip(hp.ang2vec(ra0, dec0, lonlat=True) @ vec, -1, 1))
    g1, g2 = kappa_to_shear(amp * np.exp(-0.5 * (r / np.deg2rad(3.0)) ** 2))
    for model, data in ((g1, maps.gamma1), (g2, maps.gamma2)):
        assert np.corrcoef(model[inner], data[inner])[0, 1] > 0.9
        assert np.sum(model[inner] * data[inner]) / np.sum(model[inner] ** 2) == pytest.approx(1.0, abs=0.1)


def test_bad_inputs():
    with pytest.raises(InputError):
        ShearAccumulator(12)
    acc = ShearAccumulator(8)
    with pytest.raises(InputError):
        acc.add([0.0], [95.0], [0.0], [0.0])
    with pytest.raises(InputError):
        acc.add([0.0, 1.0], [0.0], [0.0], [0.0])
    with pytest.raises(InputError):
        acc.finish()
