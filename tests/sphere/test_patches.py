"""Flat patches over the sphere (sphere/patches.py): geometry against astropy and survey/grid.py, shear
rotation, flat KS93 on a patch against the spherical KS, reprojection and blending."""

from __future__ import annotations

import healpy as hp
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from miu2net.errors import InputError
from miu2net.maps import default_wcs
from miu2net.physics.operators import ks93_inverse
from miu2net.sphere.harmonic import kappa_alm_to_shear
from miu2net.sphere.patches import (
    blend,
    gnomonic_patch,
    north_angle,
    patch_centres,
    patch_to_sphere,
    project_to_patch,
    sample_to_patch,
    shear_to_patch_frame,
)
from miu2net.survey.catalogue import Catalogue
from miu2net.survey.grid import bin_catalogue


@pytest.mark.parametrize("centre", [(30.0, 0.0), (200.0, -45.0), (359.5, 70.0)])
def test_patch_geometry_matches_the_flat_maps_wcs(centre):
    size, pixel = 40, 6.0
    ra, dec = gnomonic_patch(*centre, size, pixel)
    wcs_ra, wcs_dec = default_wcs((size, size), pixel, center_deg=centre).pixel_to_world_values(
        *np.meshgrid(np.arange(size), np.arange(size)))
    np.testing.assert_allclose(dec, wcs_dec, atol=1e-9)
    np.testing.assert_allclose(np.angle(np.exp(1j * np.deg2rad(ra - wcs_ra))), 0.0, atol=1e-9)
    x, y = project_to_patch(ra, dec, *centre, size, pixel)
    np.testing.assert_allclose(x, np.arange(size)[None, :] + 0 * x, atol=1e-8)
    np.testing.assert_allclose(y, np.arange(size)[:, None] + 0 * y, atol=1e-8)
    assert ra[size // 2, 0] != ra[size // 2, -1] and (ra[size // 2, 0] - centre[0]) % 360 < 180  # east on the left
    assert np.all(np.isnan(project_to_patch(centre[0] + 180, -centre[1], *centre, size, pixel)[0]))


def test_shear_rotation_matches_the_flat_gridding(rng):
    """One galaxy per pixel of a wide patch at high Dec: the patch-frame shear equals survey/grid.py's."""
    size, pixel, centre = 32, 30.0, (100.0, 60.0)
    ra, dec = gnomonic_patch(*centre, size, pixel)
    e1, e2 = rng.normal(0, 0.2, (2, size, size))
    cat = Catalogue(ra=ra.ravel(), dec=dec.ravel(), e1=e1.ravel(), e2=e2.ravel(), weight=np.ones(size * size), meta={})
    shear, _ = bin_catalogue(cat, pixel_arcmin=pixel, size=size, center=centre, shape_noise_sigma=0.3)
    g1, g2 = shear_to_patch_frame(e1, e2, ra, dec, *centre)
    assert np.abs(north_angle(ra, dec, *centre)).max() > 0.2  # the rotation matters on this patch
    np.testing.assert_allclose(g1, shear.g1, atol=1e-6)
    np.testing.assert_allclose(g2, shear.g2, atol=1e-6)


def test_constant_theta_phi_field_at_the_pole_is_radial():
    """Q = a, U = 0 in healpy's (theta, phi) frame (a stretch along the meridians), i.e. e = -a in the
    (east, north) frame, is radial about the pole on a polar patch: gamma_t = -a, gamma_x = 0; at the
    equator it stays a north-south stretch, g1 = -a."""
    size, pixel, a = 21, 20.0, 0.05
    ra, dec = gnomonic_patch(0.0, 90.0, size, pixel)
    g1, g2 = shear_to_patch_frame(np.full(ra.shape, -a), 0.0 * ra, ra, dec, 0.0, 90.0)
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    phi = np.arctan2(yy, xx)
    g = (g1 + 1j * g2) * np.exp(-2j * phi)
    off = (xx != 0) | (yy != 0)
    np.testing.assert_allclose(-g.real[off], -a, atol=1e-12)
    np.testing.assert_allclose(g.imag[off], 0.0, atol=1e-12)
    ra, dec = gnomonic_patch(50.0, 0.0, 3, pixel)
    g1, g2 = shear_to_patch_frame(np.full(ra.shape, -a), np.full(ra.shape, 0.02), ra, dec, 50.0, 0.0)
    assert g1[1, 1] == pytest.approx(-a) and g2[1, 1] == pytest.approx(-0.02)  # e2 mirrored at the centre


def test_flat_ks_of_a_patch_matches_the_spherical_ks(rng):
    """A band-limited sky: its spherical shear sampled on a patch, turned into the patch frame and put
    through the flat KS93, gives the sky's kappa on the patch (after high-passing: the patch lacks modes
    larger than itself), E to a few percent and B small."""
    nside, lmax, size, pixel, centre = 256, 400, 128, 8.0, (60.0, 40.0)
    ell = np.arange(lmax + 1.0)
    cl = np.where(ell >= 2, 1e-9 * ell * np.exp(-((ell / 250.0) ** 2)), 0.0)
    np.random.seed(5)
    alm = hp.synalm(cl, lmax=lmax, new=True)
    g1_sky, g2_sky = kappa_alm_to_shear(alm, nside, lmax)
    kappa_sky = hp.alm2map(alm, nside, lmax=lmax)
    ra, dec = gnomonic_patch(*centre, size, pixel)
    e1 = sample_to_patch(g1_sky, *centre, size, pixel)
    e2 = sample_to_patch(g2_sky, *centre, size, pixel)
    g1, g2 = shear_to_patch_frame(e1, e2, ra, dec, *centre)
    k_e, k_b = ks93_inverse(g1, g2, pad=True)
    truth = sample_to_patch(kappa_sky, *centre, size, pixel)

    def high_pass(m):
        return m - gaussian_filter(m, 12.0, mode="reflect")

    inner = (slice(size // 4, -size // 4),) * 2
    diff = high_pass(k_e)[inner] - high_pass(truth)[inner]
    scale = np.std(high_pass(truth)[inner])
    assert np.std(diff) < 0.05 * scale  # 0.03 measured
    assert np.std(high_pass(k_b)[inner]) < 0.05 * scale
    # the wrong frames fail: no mirror of e2 (E wrong), no convergence of meridians (B of 0.075 on this patch)
    wrong, _ = ks93_inverse(*shear_to_patch_frame(e1, -e2, ra, dec, *centre), pad=True)
    assert np.std(high_pass(wrong)[inner] - high_pass(truth)[inner]) > 0.5 * scale
    _, b_unrotated = ks93_inverse(e1, -e2, pad=True)
    assert np.std(high_pass(b_unrotated)[inner]) > 0.06 * scale


def smooth_sky(ra, dec):
    a, d = np.deg2rad(ra), np.deg2rad(dec)
    return np.sin(d) + 0.5 * np.cos(d) * np.cos(a - 0.3) + 0.2 * np.cos(d) ** 2 * np.sin(2 * a)


def test_reprojection_weights_and_blend():
    nside, size, pixel = 64, 64, 6.0
    ra, dec = gnomonic_patch(80.0, -30.0, size, pixel)
    piece = patch_to_sphere(smooth_sky(ra, dec), 80.0, -30.0, pixel, nside)
    pra, pdec = hp.pix2ang(nside, piece.pixels, lonlat=True)
    np.testing.assert_allclose(piece.values, smooth_sky(pra, pdec), atol=2e-4)
    assert piece.weight.min() >= 0 and piece.weight.max() == pytest.approx(1.0)
    x, y = project_to_patch(pra, pdec, 80.0, -30.0, size, pixel)
    edge = np.minimum.reduce([x, y, size - 1 - x, size - 1 - y])
    assert np.all(piece.weight[edge < 0.5] < 0.01) and np.all(piece.weight[edge > size / 8] == 1.0)
    area = piece.pixels.size * hp.nside2pixarea(nside, degrees=True)
    assert area == pytest.approx(((size - 1) * pixel / 60) ** 2, rel=0.05)
    # a footprint tessellated into overlapping patches and blended back
    footprint = np.zeros(hp.nside2npix(nside))
    footprint[hp.query_disc(nside, hp.ang2vec(80.0, -30.0, lonlat=True), np.deg2rad(8.0))] = 1
    tiles, tra, tdec = patch_centres(8, footprint)
    assert 3 <= tiles.size <= 12
    size_tile, pixel_tile = 48, 15.0  # 12 deg: a tile of 7.3 deg and its feathers
    pieces = [patch_to_sphere(smooth_sky(*gnomonic_patch(a, d, size_tile, pixel_tile)), a, d, pixel_tile, nside)
              for a, d in zip(tra, tdec)]
    blended = blend(pieces, nside)
    inside = footprint > 0
    assert np.all(blended[inside] != hp.UNSEEN)
    fra, fdec = hp.pix2ang(nside, np.flatnonzero(inside), lonlat=True)
    np.testing.assert_allclose(blended[inside], smooth_sky(fra, fdec), atol=2e-3)
    assert np.any(blended == hp.UNSEEN)


def test_bad_inputs():
    with pytest.raises(InputError):
        patch_to_sphere(np.zeros((4, 5)), 0.0, 0.0, 1.0, 16)
    with pytest.raises(InputError):
        patch_centres(64, np.ones(hp.nside2npix(16)))
    with pytest.raises(InputError):
        gnomonic_patch(0.0, 0.0, 1, 1.0)
