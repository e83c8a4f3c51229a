"""The sphere journey on a synthetic sky: a catalogue drawn from a healpy synfast convergence field (pyccl
C_ell), read in chunks, binned on HEALPix, reconstructed on the sphere and on flat patches."""

import healpy as hp
import numpy as np
import pytest

from miu2net.errors import InputError
from miu2net.pipeline.load import CatalogueOptions
from miu2net.pipeline.sphere import reconstruct_healpix, tessellation_nside
from miu2net.physics.wiener import signal_power
from miu2net.sphere.harmonic import kappa_to_shear

NSIDE = 128
RADIUS_DEG = 12.0


@pytest.fixture(scope="module")
def sky(tmp_path_factory):
    """A κ field (C_ell of z_s = 1, smoothed at the map's resolution) and a Parquet catalogue of 4e5
    galaxies in a 12 deg disc at (RA, Dec) = (40, -30), with small shape noise."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cl_of_ell, _ = signal_power(cl_kappa=None, z_source=1.0, nz=None)
    ell = np.arange(3 * NSIDE)
    cl = np.where(ell >= 2, cl_of_ell(np.maximum(ell, 2)), 0.0)
    np.random.seed(3)
    kappa = hp.synfast(cl, NSIDE, lmax=2 * NSIDE, pixwin=False)
    gamma1, gamma2 = kappa_to_shear(kappa, lmax=2 * NSIDE)
    rng = np.random.default_rng(4)
    n = 400_000
    centre = hp.ang2vec(40.0, -30.0, lonlat=True)
    ra = rng.uniform(40 - 17, 40 + 17, 3 * n)  # a box around the disc, uniform on the sphere
    dec = np.degrees(np.arcsin(rng.uniform(np.sin(np.radians(-43)), np.sin(np.radians(-17)), 3 * n)))
    inside = hp.ang2vec(ra, dec, lonlat=True) @ centre > np.cos(np.radians(RADIUS_DEG))
    ra, dec = ra[inside][:n], dec[inside][:n]
    pix = hp.ang2pix(NSIDE, ra, dec, lonlat=True)  # each galaxy carries its pixel's shear: no model error
    g1, g2 = gamma1[pix], gamma2[pix]
    sigma = 0.005
    e1, e2 = g1 + sigma * rng.standard_normal(ra.size), g2 + sigma * rng.standard_normal(ra.size)
    path = tmp_path_factory.mktemp("sky") / "cat.parquet"
    pq.write_table(pa.table({"ra": ra, "dec": dec, "e1": e1, "e2": e2}), path, row_group_size=100_000)
    return kappa, path


def _corr(a, b, good):
    return np.corrcoef(a[good], b[good])[0, 1]


@pytest.mark.parametrize("method", ["ks", "wiener"])
def test_spherical_methods_recover_the_field(sky, method):
    kappa, path = sky
    maps, meta = reconstruct_healpix(path, nside=NSIDE, method=method, scheduler="synchronous", rows=150_000,
                                     catalogue=CatalogueOptions(shape_noise_sigma=0.005 * np.sqrt(2)))
    good = maps["KAPPA_E"] != hp.UNSEEN
    assert meta["n_galaxies"] == 400_000 and good.sum() > 0.9 * hp.nside2npix(NSIDE) * (1 - np.cos(np.radians(12))) / 2
    inner = good & (hp.ang2vec(*hp.pix2ang(NSIDE, np.arange(good.size), lonlat=True), lonlat=True)
                    @ hp.ang2vec(40.0, -30.0, lonlat=True) > np.cos(np.radians(RADIUS_DEG - 3)))
    assert _corr(maps["KAPPA_E"], kappa, inner) > 0.9, "the E mode follows the true field inside the footprint"
    rms_b = np.std(maps["KAPPA_B"][inner])
    assert rms_b < 0.3 * np.std(maps["KAPPA_E"][inner]), "a pure-E sky gives little B mode"
    # E-mode pseudo-C_ell against the truth's on the same pixels: the power is kept from l = 60 up (below,
    # modes as wide as the 24 deg footprint are lost with the shear outside it); B stays far below E
    cl = {name: hp.anafast(np.where(inner, m, 0.0), lmax=2 * NSIDE)
          for name, m in (("e", maps["KAPPA_E"]), ("b", maps["KAPPA_B"]), ("truth", kappa))}
    band = slice(60, 250)
    ratio = cl["e"][band].sum() / cl["truth"][band].sum()
    assert 0.97 < ratio < 1.03, f"{method}: E-mode power / truth's = {ratio:.3f} in l = 60-250"
    assert cl["b"][band].sum() < 0.1 * cl["e"][band].sum()


@pytest.mark.parametrize("large_scales", ["patch", "sphere"])
def test_flat_patches_blend_into_the_field(sky, large_scales):
    """The flat KS93 on gnomonic patches (64² of 6', tessellation picked to fit), blended on the sphere,
    follows the truth as the spherical KS does; with the sphere's large scales it does at least as well."""
    kappa, path = sky
    options = CatalogueOptions(shape_noise_sigma=0.005 * np.sqrt(2))
    sphere, _ = reconstruct_healpix(path, nside=NSIDE, method="ks", scheduler="synchronous", rows=150_000,
                                    catalogue=options)
    flat, meta = reconstruct_healpix(path, nside=NSIDE, method="ks", patches=True, scheduler="synchronous",
                                     rows=150_000, patch_size=64, patch_pixel_arcmin=6.0, large_scales=large_scales,
                                     catalogue=options)
    assert meta["method"] == "ks (flat patches)" and meta["patches"] > 10
    good = (flat["KAPPA_E"] != hp.UNSEEN) & (sphere["KAPPA_E"] != hp.UNSEEN)
    inner = good & (hp.ang2vec(*hp.pix2ang(NSIDE, np.arange(good.size), lonlat=True), lonlat=True)
                    @ hp.ang2vec(40.0, -30.0, lonlat=True) > np.cos(np.radians(RADIUS_DEG - 3)))
    r_flat, r_sphere = _corr(flat["KAPPA_E"], kappa, inner), _corr(sphere["KAPPA_E"], kappa, inner)
    assert r_flat > 0.8, f"blended patches follow the truth (r = {r_flat:.3f}; sphere {r_sphere:.3f})"
    if large_scales == "sphere":
        assert r_flat > r_sphere - 0.05


def test_scheduler_does_not_change_the_map(sky):
    _, path = sky
    a, _ = reconstruct_healpix(path, nside=32, method="ks", scheduler="synchronous", rows=100_000)
    b, _ = reconstruct_healpix(path, nside=32, method="ks", scheduler=None, workers=2, rows=100_000)
    np.testing.assert_array_equal(a["KAPPA_E"], b["KAPPA_E"])


def test_bad_requests_are_refused(sky):
    _, path = sky
    with pytest.raises(InputError, match="NSIDE must be a power of two"):
        reconstruct_healpix(path, nside=100, method="ks")
    with pytest.raises(InputError, match="no option"):
        reconstruct_healpix(path, nside=32, method="ks", options={"k_sigma": 3})
    with pytest.raises(InputError, match="noise-realisations"):
        reconstruct_healpix(path, nside=32, method="mcalens", noise_realisations=3)


def test_tessellation_fits_inside_a_patch():
    assert tessellation_nside(256, 0.41) == 64
    assert hp.nside2resol(tessellation_nside(256, 0.41)) * np.sqrt(2) < np.radians(256 * 0.41 / 60) * 0.75


def test_wiener_beats_ks_on_a_noisy_half_sky():
    """On a noisy half sky with a known prior, the spherical Wiener filter's error is well below KS's, in
    E and in B (noise filtered), through the journey's own method dispatch."""
    from miu2net.pipeline.sphere import spherical_kappa
    from miu2net.sphere.binning import bin_catalogue_healpix
    from miu2net.sphere.harmonic import kappa_alm_to_shear

    nside, lmax = 32, 64
    ell = np.arange(lmax + 1.0)
    cl = np.where(ell >= 2, 1e-3 / (ell + 5.0) ** 2, 0.0)
    rng = np.random.default_rng(7)
    np.random.seed(7)
    alm = hp.synalm(cl, lmax=lmax, new=True)
    g1, g2 = kappa_alm_to_shear(alm, nside, lmax)
    kappa = hp.alm2map(alm, nside, lmax=lmax)
    n = 400_000
    ra, dec = rng.uniform(0, 360, n), np.rad2deg(np.arcsin(rng.uniform(0.1, 1.0, n)))
    pix = hp.ang2pix(nside, ra, dec, lonlat=True)
    shear = bin_catalogue_healpix(ra, dec, g1[pix] + rng.normal(0, 0.2, n), g2[pix] + rng.normal(0, 0.2, n),
                                  nside=nside, shape_noise_sigma=0.2 * np.sqrt(2))
    ks_e, ks_b, _ = spherical_kappa(shear, "ks", {"lmax": lmax})
    wf_e, wf_b, info = spherical_kappa(shear, "wiener", {"lmax": lmax, "cl_kappa": lambda l: np.interp(l, ell, cl),
                                                         "tol": 1e-6})
    inside = shear.mask > 0
    assert info["converged"] and inside.mean() == pytest.approx(0.45, abs=0.03)
    rms = {name: np.sqrt(np.mean((m[inside] - kappa[inside]) ** 2)) for name, m in (("ks", ks_e), ("wf", wf_e))}
    assert rms["wf"] < 0.8 * rms["ks"]
    assert np.std(wf_b[inside]) < 0.6 * np.std(ks_b[inside])


def test_a_network_that_bins_the_patch_to_its_pixel_blends_back(tmp_path):
    """The shipped DeepMass model works at 0.82': on 0.41' patches it bins them 2x2, and the patch's map,
    its large scales from the sphere and its reprojection follow the binned grid."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    nside = 256
    np.random.seed(5)
    ell = np.arange(3 * nside)
    cl_of_ell, _ = signal_power(cl_kappa=None, z_source=1.0, nz=None)
    kappa = hp.synfast(np.where(ell >= 2, cl_of_ell(np.maximum(ell, 2)), 0.0), nside, lmax=2 * nside)
    gamma1, gamma2 = kappa_to_shear(kappa, lmax=2 * nside)
    rng = np.random.default_rng(6)
    n = 150_000
    ra, dec = rng.uniform(118.5, 121.5, 2 * n), np.degrees(np.arcsin(rng.uniform(-0.026, 0.026, 2 * n)))
    inside = hp.ang2vec(ra, dec, lonlat=True) @ hp.ang2vec(120.0, 0.0, lonlat=True) > np.cos(np.radians(1.4))
    ra, dec = ra[inside], dec[inside]
    pix = hp.ang2pix(nside, ra, dec, lonlat=True)
    e1 = gamma1[pix] + 0.2 * rng.standard_normal(ra.size)
    e2 = gamma2[pix] + 0.2 * rng.standard_normal(ra.size)
    path = tmp_path / "cap.parquet"
    pq.write_table(pa.table({"ra": ra, "dec": dec, "e1": e1, "e2": e2}), path)
    maps, meta = reconstruct_healpix(path, nside=nside, method="deepmass", scheduler="synchronous")
    assert meta["method"] == "deepmass (flat patches)" and meta["patches"] >= 1
    seen = maps["KAPPA_E"] != hp.UNSEEN
    assert seen.sum() > 100 and np.all(np.isfinite(maps["KAPPA_E"][seen]))
    assert np.corrcoef(maps["KAPPA_E"][seen], kappa[seen])[0, 1] > 0.3
