"""Catalogue to convergence: sign conventions proven on GalSim NFW halos, noise maps, tiling, bad input."""

import numpy as np
import pytest
from astropy.io import fits
from catalogue_helpers import nfw_catalogue, write_catalogue
from typer.testing import CliRunner

from miu2net.cli import app
from miu2net.io import read_kappa_map
from miu2net.pipeline import CatalogueOptions, reconstruct_file
from miu2net.survey import bin_catalogue, read_catalogue

pytest.importorskip("galsim")
runner = CliRunner()
PIXEL = 1.0


def _peak_offset_pixels(kappa_map, ra, dec):
    y, x = np.unravel_index(np.argmax(kappa_map.kappa_e), kappa_map.shape)
    hx, hy = kappa_map.wcs.world_to_pixel_values(ra, dec)
    return float(np.hypot(x - hx, y - hy))


@pytest.mark.parametrize("dec0, suffix", [(2.0, ".fits"), (60.0, ".parquet"), (-35.0, ".csv")])
def test_nfw_halo_gives_positive_e_peak_at_its_position(tmp_path, rng, dec0, suffix):
    cols, (hra, hdec) = nfw_catalogue(rng, dec0=dec0, halo_offset_arcmin=(5.0, -3.0))
    path = write_catalogue(cols, tmp_path / f"cat{suffix}")
    out = tmp_path / "kappa.fits"
    result = runner.invoke(app, ["reconstruct", str(path), "--method", "ks", "--smooth", "1.5", "--pixel-arcmin",
                                 str(PIXEL), "--noise-realisations", "12", "-o", str(out)])
    assert result.exit_code == 0, result.output
    kappa = read_kappa_map(out)
    offset = _peak_offset_pixels(kappa, hra, hdec)
    assert offset <= 1.0, f"kappa_E peak {offset:.2f} pixels from the halo (dec0={dec0})"
    hx, hy = (int(round(float(v))) for v in kappa.wcs.world_to_pixel_values(hra, hdec))
    snr_peak = kappa.kappa_e[hy, hx] / kappa.sigma_noise[hy, hx]
    assert snr_peak > 5, f"halo detected at only S/N {snr_peak:.1f}"
    # B mode: consistent with noise everywhere, S/N distribution of unit width.
    snr_b = kappa.kappa_b / kappa.sigma_noise
    assert abs(snr_b[hy, hx]) < 3 and np.std(snr_b[5:-5, 5:-5]) < 1.4
    with fits.open(out) as hdul:
        assert {"KAPPA_E", "KAPPA_B", "SIGMA_NOISE", "SNR"} <= {h.name for h in hdul}
        assert hdul["KAPPA_E"].header["CTYPE1"] == "RA---TAN"


def test_e2_flip_mirrors_the_map(rng):
    cols, (hra, hdec) = nfw_catalogue(rng, halo_offset_arcmin=(6.0, 4.0))
    ra0 = 150.0
    mirrored = dict(cols, ra=2 * ra0 - cols["ra"], e2=-cols["e2"])  # the mirror image of the same sky
    opts = dict(pixel_arcmin=PIXEL, size=40, center=(ra0, 2.0))
    from miu2net.methods import ks

    base = ks.reconstruct(bin_catalogue(_cat(cols), **opts)[0], smooth_arcmin=1.5)
    mirror = ks.reconstruct(bin_catalogue(_cat(mirrored), **opts)[0], smooth_arcmin=1.5)
    # Mirroring RA about the centre flips the map's x axis (pixel centres stay symmetric on an even grid).
    np.testing.assert_allclose(mirror.kappa_e[:, ::-1], base.kappa_e, atol=0.15 * base.kappa_e.max(),
                               err_msg="mirrored catalogue (RA mirrored, e2 negated) is not the mirrored map")
    # The wrong e2 sign on the unmirrored sky destroys the E-mode peak.
    wrong = ks.reconstruct(bin_catalogue(_cat(cols, flip_e2=True), **opts)[0], smooth_arcmin=1.5)
    hx, hy = (int(round(float(v))) for v in base.wcs.world_to_pixel_values(hra, hdec))
    assert wrong.kappa_e[hy, hx] < 0.3 * base.kappa_e[hy, hx]


def _cat(cols, **kw):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        return read_catalogue(write_catalogue(cols, Path(d) / "c.fits"), **kw)


def test_snr_of_pure_noise_has_unit_variance(tmp_path, rng):
    cols, _ = nfw_catalogue(rng, signal=False, side_arcmin=40.0)
    path = write_catalogue(cols, tmp_path / "noise.fits")
    kappa, _ = reconstruct_file(path, method="ks", catalogue=CatalogueOptions(pixel_arcmin=PIXEL),
                                noise_realisations=40, seed=3)
    snr = kappa.snr[2:-2, 2:-2]
    # Unsmoothed KS of white shape noise gives nearly independent pixels: 1296 of them measure the variance
    # to +-4 %; sigma from 40 realisations biases 1/sigma^2 up by ~5 %. Tolerance: 1 +- 0.15.
    assert abs(np.var(snr) - 1.0) < 0.15, f"S/N variance of pure noise is {np.var(snr):.3f}"
    assert abs(np.mean(snr)) < 0.1


def test_noise_map_matches_galaxy_counts(rng):
    cols, _ = nfw_catalogue(rng, signal=False, side_arcmin=20.0, n_per_arcmin2=20)
    shear, binning = bin_catalogue(_cat(cols), pixel_arcmin=1.0, shape_noise_sigma=0.26 * np.sqrt(2))
    counts = np.bincount(binning.pixel_index, minlength=shear.shape[0] ** 2).reshape(shear.shape)
    observed = counts > 0
    np.testing.assert_allclose(shear.noise[observed], 0.26 / np.sqrt(counts[observed]), rtol=1e-10)
    assert np.all(shear.mask[~observed] == 0)
    pull = shear.g1[counts >= 5] / shear.noise[counts >= 5]
    assert abs(pull.std() - 1.0) < 0.1


def test_tiled_matches_single_in_the_interior(tmp_path, rng):
    cols, _ = nfw_catalogue(rng, side_arcmin=96.0, n_per_arcmin2=10, halo_offset_arcmin=(10, 10))
    path = write_catalogue(cols, tmp_path / "wide.fits")
    cat = CatalogueOptions(pixel_arcmin=1.0, size=96)
    single, _ = reconstruct_file(path, method="ks", options={"smooth_arcmin": 2.0}, catalogue=cat)
    tiled, _ = reconstruct_file(path, method="ks", options={"smooth_arcmin": 2.0}, catalogue=cat,
                                tile=64, tile_overlap=48)
    assert tiled.meta["tiling"]["n_tiles"] == 9
    inner = (slice(8, -8), slice(8, -8))
    a, b = tiled.kappa_e[inner], single.kappa_e[inner]
    # KS is non-local, so tiles miss the shear beyond their edges: equality holds to 6-11 % (4 seeds) of
    # the map's rms, up to the mass sheet (mean), which neither map knows.
    rel = np.sqrt(np.mean(((a - a.mean()) - (b - b.mean())) ** 2)) / np.std(b)
    assert rel < 0.12, f"tiled and single reconstructions differ by {rel:.3f} of the map rms in the interior"


BAD = {
    "empty": ({"ra": [], "dec": [], "e1": [], "e2": []}, "empty"),
    "all-NaN e1": ({"ra": [1.0, 2.0], "dec": [0.0, 0.1], "e1": [np.nan, np.nan], "e2": [0.0, 0.1]}, "no finite"),
    "dec out of range": ({"ra": [1.0, 2.0], "dec": [95.0, 0.1], "e1": [0.1, 0.0], "e2": [0.0, 0.1]}, "dec out of range"),
    "missing e2": ({"ra": [1.0, 2.0], "dec": [0.0, 0.1], "e1": [0.1, 0.0], "g2": [0.0, 0.1]}, "no column 'e2'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_catalogues(tmp_path, case):
    columns, expected = BAD[case]
    path = write_catalogue({k: np.asarray(v, dtype=float) for k, v in columns.items()}, tmp_path / "bad.fits")
    out = tmp_path / "k.fits"
    result = runner.invoke(app, ["reconstruct", str(path), "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert expected in result.output and "Traceback" not in result.output
    assert not out.exists() and not list(tmp_path.glob(".k.fits*"))


def test_footprint_much_larger_than_asked(tmp_path, rng):
    cols, _ = nfw_catalogue(rng, signal=False, side_arcmin=60.0, n_per_arcmin2=2)
    path = write_catalogue(cols, tmp_path / "c.fits")
    result = runner.invoke(app, ["reconstruct", str(path), "--size", "10", "-o", str(tmp_path / "k.fits")])
    assert result.exit_code == 2 and "much larger than asked" in result.output


