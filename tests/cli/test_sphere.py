"""``reconstruct --healpix``: HEALPix files and figures from a catalogue, the automatic switch for wide
footprints, and the flat-map options refused on the sphere."""

import healpy as hp
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from typer.testing import CliRunner

from miu2net.cli import app

runner = CliRunner()


def _catalogue(path, *, half_width_deg, n=60_000, seed=2):
    rng = np.random.default_rng(seed)
    ra = 150 + rng.uniform(-half_width_deg, half_width_deg, n)
    dec = np.degrees(np.arcsin(rng.uniform(np.sin(np.radians(-half_width_deg)), np.sin(np.radians(half_width_deg)), n)))
    Table({"ra": ra, "dec": dec, "e1": 0.2 * rng.standard_normal(n), "e2": 0.2 * rng.standard_normal(n)}).write(path)
    return path


def test_healpix_ks_writes_a_healpy_file_and_a_figure(tmp_path):
    cat = _catalogue(tmp_path / "cat.fits", half_width_deg=6)
    out, png = tmp_path / "k.fits", tmp_path / "k.png"
    result = runner.invoke(app, ["reconstruct", str(cat), "--healpix", "64", "--method", "ks", "-o", str(out),
                                 "--png", str(png), "--noise-realisations", "2", "--scheduler", "synchronous"])
    assert result.exit_code == 0, result.output
    assert "HEALPix NSIDE 64" in result.output and "from 60000 galaxies" in result.output
    with fits.open(out) as hdul:
        header = hdul[1].header
        assert header["NSIDE"] == 64 and header["ORDERING"] == "RING" and header["METHOD"] == "ks"
        names = [c.name for c in hdul[1].columns]
    assert names[:3] == ["PIXEL", "KAPPA_E", "KAPPA_B"] and "SIGMA_NOISE" in names and "SNR" in names
    kappa = hp.read_map(out, field=0)
    seen = kappa != hp.UNSEEN
    assert 0 < seen.sum() < hp.nside2npix(64) and np.all(np.isfinite(kappa[seen]))
    assert png.stat().st_size > 10_000


def test_a_wide_footprint_goes_to_the_sphere_and_says_why(tmp_path, monkeypatch):
    import miu2net.cli.sphere

    monkeypatch.setattr(miu2net.cli.sphere, "DEFAULT_NSIDE", 32)  # the default, 1024, costs a minute
    cat = _catalogue(tmp_path / "wide.fits", half_width_deg=14, n=30_000)
    out = tmp_path / "k.fits"
    result = runner.invoke(app, ["reconstruct", str(cat), "-o", str(out), "--scheduler", "synchronous"])
    assert result.exit_code == 0, result.output
    assert "mapped on the sphere (HEALPix NSIDE 32" in result.output and "method wiener" in result.output
    assert fits.getheader(out, 1)["NSIDE"] == 32


@pytest.mark.parametrize("extra, message", [
    (["--tile", "64"], "--tile set"),
    (["--size", "64"], "--size set"),
    (["--healpix", "100"], "NSIDE must be a power of two"),
    (["--method", "mcalens", "--noise-realisations", "2"], "flat patches"),
])
def test_flat_options_and_bad_nside_are_refused_on_the_sphere(tmp_path, extra, message):
    cat = _catalogue(tmp_path / "cat.fits", half_width_deg=3, n=5000)
    args = ["reconstruct", str(cat), "-o", str(tmp_path / "k.fits"), "--scheduler", "synchronous"]
    if "--healpix" not in extra:
        args += ["--healpix", "32"]
    result = runner.invoke(app, args + extra)
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "k.fits").exists()
