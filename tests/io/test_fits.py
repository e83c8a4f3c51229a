"""File contracts (docs/files.md) and the CLI's handling of good and bad input."""

import numpy as np
import pytest
from astropy.io import fits
from typer.testing import CliRunner

from miu2net import __version__
from miu2net.cli import app
from miu2net.errors import InputError
from miu2net.io import default_wcs, read_kappa_map, read_shear_map, write_kappa_map, write_shear_map
from miu2net.maps import KappaMap, ShearMap
from miu2net.physics.operators import ks93_forward

runner = CliRunner()


def _shear_hdus(g1, g2, *, mask=None, noise=None, pixscale=0.5, wcs=None):
    hdus = [fits.PrimaryHDU()]
    if pixscale is not None:
        hdus[0].header["PIXSCALE"] = pixscale
    for name, data in (("G1", g1), ("G2", g2), ("MASK", mask), ("NOISE", noise)):
        if data is not None:
            hdu = fits.ImageHDU(data, name=name)
            if wcs is not None:
                hdu.header.update(wcs.to_header())
            hdus.append(hdu)
    return fits.HDUList(hdus)


@pytest.fixture
def shear_file(tmp_path, rng):
    kappa = rng.standard_normal((64, 64)) * 0.02
    g1, g2 = ks93_forward(kappa)
    mask = np.ones((64, 64))
    mask[10:20, 10:20] = 0
    noise = np.full((64, 64), 0.1)
    path = tmp_path / "shear.fits"
    _shear_hdus(g1 * mask, g2 * mask, mask=mask, noise=noise).writeto(path)
    return path


def test_reconstruct_writes_contract(tmp_path, shear_file):
    out, png = tmp_path / "kappa.fits", tmp_path / "kappa.png"
    result = runner.invoke(app, ["reconstruct", str(shear_file), "--method", "ks", "-o", str(out),
                                 "--png", str(png), "--smooth", "1.0"])
    assert result.exit_code == 0, result.output
    assert png.stat().st_size > 1000
    with fits.open(out) as hdul:
        assert {"KAPPA_E", "KAPPA_B"} <= {h.name for h in hdul}
        head = hdul["KAPPA_E"].header
        assert head["METHOD"] == "ks" and head["VERSION"] == __version__
        assert head["PIXSCALE"] == 0.5 and "CHI2DOF" in head and head["CHI2DOF"] > 0
        assert '"smooth_arcmin": 1.0' in head["OPTIONS"]
        assert head["CTYPE1"].startswith("RA---") and head["CTYPE2"].startswith("DEC--")


def test_kappa_fits_round_trip_keeps_wcs(tmp_path, rng):
    wcs = default_wcs((32, 32), 0.82, center_deg=(150.1, 2.2))
    kappa = KappaMap(rng.standard_normal((32, 32)), rng.standard_normal((32, 32)), 0.82,
                     sigma_noise=np.full((32, 32), 0.5), wcs=wcs, meta={"method": "ks", "options": {"a": 1}})
    path = write_kappa_map(kappa, tmp_path / "k.fits")
    back = read_kappa_map(path)
    np.testing.assert_allclose(back.kappa_e, kappa.kappa_e, rtol=1e-6)
    np.testing.assert_allclose(back.snr, kappa.kappa_e / 0.5, rtol=1e-6)
    np.testing.assert_allclose(back.wcs.wcs.crval, [150.1, 2.2])
    np.testing.assert_allclose(back.wcs.pixel_to_world_values(3, 7), wcs.pixel_to_world_values(3, 7), atol=1e-10)
    assert back.pixel_arcmin == pytest.approx(0.82) and back.meta["options"] == {"a": 1}


def test_shear_fits_round_trip_with_wcs(tmp_path, rng):
    wcs = default_wcs((16, 16), 1.0, center_deg=(10.0, -30.0))
    shear = ShearMap(g1=rng.normal(0, 0.1, (16, 16)), g2=rng.normal(0, 0.1, (16, 16)), pixel_arcmin=1.0, wcs=wcs)
    back = read_shear_map(write_shear_map(shear, tmp_path / "s.fits"))
    np.testing.assert_allclose(back.g1, shear.g1, rtol=1e-6)
    assert back.pixel_arcmin == pytest.approx(1.0) and back.wcs.wcs.crval[1] == -30.0


def test_npz_input(tmp_path, rng):
    path = tmp_path / "s.npz"
    np.savez(path, G1=rng.normal(0, 0.1, (8, 8)), G2=rng.normal(0, 0.1, (8, 8)), PIXSCALE=2.0)
    assert read_shear_map(path).pixel_arcmin == 2.0


def test_nan_allowed_only_under_mask(tmp_path):
    g = np.zeros((8, 8))
    g[0, 0] = np.nan
    mask = np.ones((8, 8))
    mask[0, 0] = 0
    _shear_hdus(g, np.zeros((8, 8)), mask=mask).writeto(tmp_path / "ok.fits")
    assert read_shear_map(tmp_path / "ok.fits").g1[0, 0] == 0.0


BAD_INPUTS = {
    "missing G2": (lambda: _shear_hdus(np.zeros((8, 8)), None), "G2"),
    "NaN": (lambda: _shear_hdus(np.full((8, 8), np.nan), np.zeros((8, 8))), "NaN"),
    "non-square": (lambda: _shear_hdus(np.zeros((8, 6)), np.zeros((8, 6))), "square"),
    "mismatched": (lambda: _shear_hdus(np.zeros((8, 8)), np.zeros((6, 6))), "shape"),
    "no pixel scale": (lambda: _shear_hdus(np.zeros((8, 8)), np.zeros((8, 8)), pixscale=None), "pixel scale"),
    "mask all zero": (lambda: _shear_hdus(np.zeros((8, 8)), np.zeros((8, 8)), mask=np.zeros((8, 8))), "masked"),
    "bad noise": (lambda: _shear_hdus(np.zeros((8, 8)), np.zeros((8, 8)), noise=np.zeros((8, 8))), "NOISE"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gives_one_clear_line(tmp_path, case):
    make, expected = BAD_INPUTS[case]
    path = tmp_path / "bad.fits"
    make().writeto(path)
    out = tmp_path / "kappa.fits"
    result = runner.invoke(app, ["reconstruct", str(path), "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert expected in result.output and "error:" in result.output
    assert not out.exists(), "a failed run left an output file"
    assert not list(tmp_path.glob(".kappa*")), "a failed run left a temporary file"
    with pytest.raises(InputError):
        read_shear_map(path)


def test_unreadable_and_missing_files(tmp_path):
    junk = tmp_path / "junk.fits"
    junk.write_bytes(b"not a fits file at all")
    for path in (junk, tmp_path / "absent.fits", tmp_path / "table.txt"):
        result = runner.invoke(app, ["reconstruct", str(path), "-o", str(tmp_path / "k.fits")])
        assert result.exit_code == 2 and "error:" in result.output and "Traceback" not in result.output


def test_non_square_wcs_pixels_refused(tmp_path):
    wcs = default_wcs((8, 8), 1.0)
    wcs.wcs.cdelt = [-1 / 60, 2 / 60]
    _shear_hdus(np.zeros((8, 8)), np.zeros((8, 8)), pixscale=None, wcs=wcs).writeto(tmp_path / "s.fits")
    with pytest.raises(InputError, match="not square"):
        read_shear_map(tmp_path / "s.fits")


def test_unknown_method_and_option(shear_file, tmp_path):
    result = runner.invoke(app, ["reconstruct", str(shear_file), "-o", str(tmp_path / "k.fits"), "--method", "nope"])
    assert result.exit_code == 2 and "unknown method" in result.output
    result = runner.invoke(app, ["reconstruct", str(shear_file), "-o", str(tmp_path / "k.fits"),
                                 "--option", "bogus=1"])
    assert result.exit_code == 2 and "bogus" in result.output


def test_outputs_get_the_usual_permissions(tmp_path, rng):
    """Atomic writes go through a private temporary file; the result must still be readable as usual."""
    import os

    kappa = KappaMap(rng.standard_normal((8, 8)), rng.standard_normal((8, 8)), 1.0, meta={"method": "ks"})
    path = write_kappa_map(kappa, tmp_path / "k.fits")
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def _full_kappa(rng, **meta):
    """A KappaMap with every optional plane and header card the writer knows."""
    n = 32
    maps = {k: 0.02 * rng.standard_normal((n, n)) for k in ("e", "b", "sigma", "noise", "power")}
    meta = {"method": "miu2net", "model": "runs/" + "x" * 90 + "/model", "options": {"smooth_arcmin": 1.5},
            "survey": "csst", "model_config": {"arch": "u2net_small", "notes": "y" * 200}, "chi2dof": 1.01,
            "b_to_e": 0.4, "dataok": True, "estimate": "mean", "coverage": 0.68,
            "binned": {"factor": 2, "from_pixel_arcmin": 0.41, "to_pixel_arcmin": 0.82},
            "input": "/data/" + "z" * 100 + "/shear.fits", **meta}
    return KappaMap(kappa_e=maps["e"], kappa_b=maps["b"], pixel_arcmin=0.82, sigma=np.abs(maps["sigma"]) + 0.01,
                    sigma_noise=np.abs(maps["noise"]) + 0.01, meta=meta, kappa_power=maps["power"])


def test_writing_a_kappa_fits_gives_no_verify_warning(tmp_path, rng):
    """Every card fits in 80 characters (SNRDEF's comment was cut, with astropy's VerifyWarning on every run)."""
    import warnings

    from astropy.io.fits.verify import VerifyWarning

    kappa = _full_kappa(rng)
    with warnings.catch_warnings():
        warnings.simplefilter("error", VerifyWarning)
        write_kappa_map(kappa, tmp_path / "k.fits")
        with fits.open(tmp_path / "k.fits") as hdul:
            hdul.verify("exception")
            assert hdul["SNR"].header["SNRDEF"] == kappa.snr_definition
            assert "SIGMA_NOISE" in hdul["SNR"].header["SNRDEF"]


@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_a_non_finite_btoe_is_left_out_of_the_header_and_said(tmp_path, rng, value):
    """Shear with G1 = G2 = 0 has no E-mode power: its B/E ratio is inf, which a FITS header cannot hold."""
    write_kappa_map(_full_kappa(rng, b_to_e=value), tmp_path / "k.fits")
    for ext in (0, "KAPPA_E"):
        header = fits.getheader(tmp_path / "k.fits", ext)
        assert "BTOE" not in header and header["CHI2DOF"] == pytest.approx(1.01)
        assert any(str(c).startswith("BTOE left out") for c in header["COMMENT"]), header["COMMENT"]
    assert "b_to_e" not in read_kappa_map(tmp_path / "k.fits").meta


def test_zero_shear_reconstructs_with_a_finite_header(tmp_path):
    """G1 = G2 = 0 everywhere through a calibrated model (its B/E ratio is inf): written, no error, no inf card."""
    import warnings

    from miu2net.errors import DataConsistencyWarning

    n = 128
    hdus = [fits.PrimaryHDU()]
    hdus[0].header["PIXSCALE"] = 0.82
    for name, data in (("G1", np.zeros((n, n))), ("G2", np.zeros((n, n))), ("MASK", np.ones((n, n))),
                       ("NOISE", np.full((n, n), 0.05))):
        hdus.append(fits.ImageHDU(data, name=name))
    fits.HDUList(hdus).writeto(tmp_path / "zero.fits")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataConsistencyWarning)
        result = runner.invoke(app, ["reconstruct", str(tmp_path / "zero.fits"), "-o", str(tmp_path / "k.fits"),
                                     "--method", "miu2net", "--option", "model=miu2net-csst-quick"])
    assert result.exit_code == 0, f"{result.output}{result.exception!r}"
    header = fits.getheader(tmp_path / "k.fits")
    assert "BTOE" not in header and header["DATAOK"] is False
    assert all(not isinstance(v, float) or np.isfinite(v) for v in header.values())
