"""The map commands (reconstruct, project, evaluate): one-line refusals of bad values, the reports' notes."""

import numpy as np
import pytest
from cli_helpers import assert_refused as _refused
from typer.testing import CliRunner

from miu2net.cli import app
from miu2net.cli.maps import _catalogue_notes, _check_project_request, _parse_compare_methods
from miu2net.errors import InputError

runner = CliRunner()


@pytest.fixture
def shear(tmp_path):
    path = tmp_path / "shear.npz"
    rng = np.random.default_rng(0)
    np.savez(path, G1=0.05 * rng.standard_normal((32, 32)), G2=0.05 * rng.standard_normal((32, 32)), PIXSCALE=0.5)
    return path


@pytest.mark.parametrize("args, expected", [
    (["--method", "wiener", "--smooth", "1"], "--smooth applies to --method ks"),
    (["--method", "ks", "--smooth", "-1"], "--smooth must lie in [0, inf]"),
    (["--method", "ks", "--coverage", "0.9"], "--coverage applies to a calibrated network"),
    (["--method", "miu2net", "--coverage", "1.5"], "--coverage must lie in (0, 1)"),
    (["--estimate", "median"], "--estimate must be mean or power; got 'median'"),
    (["--method", "ks", "--preset", "des"], "--preset 'des' is not a survey preset"),
    (["--method", "ks", "--option", "smooth"], "--option expects KEY=VALUE"),
    (["--method", "ks", "--tile", "16", "--tile-overlap", "20"], "--tile-overlap must lie in [0, 15]"),
])
def test_reconstruct_refuses_bad_values_in_one_line(shear, tmp_path, args, expected):
    out = tmp_path / "k.fits"
    _refused(runner.invoke(app, ["reconstruct", str(shear), "-o", str(out), *args]), expected)
    assert not out.exists()


def test_reconstruct_writes_the_map_and_says_so(shear, tmp_path):
    out = tmp_path / "k.fits"
    result = runner.invoke(app, ["reconstruct", str(shear), "-o", str(out), "--method", "ks", "--smooth", "1.0"])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0 and str(out.name) in " ".join(result.output.split())


def test_catalogue_notes_say_what_was_dropped():
    assert _catalogue_notes({}) == ""
    meta = {"n_dropped_nonfinite": 3, "n_dropped_invalid": {"|e| >= 1": 2}, "n_ra_wrapped": 5}
    assert _catalogue_notes(meta) == (" (3 rows with missing/NaN/inf values dropped; 2 rows with |e| >= 1 dropped; "
                                      "5 negative RAs read as RA + 360)")


def test_compare_methods_are_checked():
    assert _parse_compare_methods("ks, wiener") == ["ks", "wiener"]
    with pytest.raises(InputError, match=r"unknown method\(s\) 'kss'"):
        _parse_compare_methods("ks,kss")
    with pytest.raises(InputError, match="takes method names separated by commas"):
        _parse_compare_methods(" , ")


def test_project_request_checks(tmp_path):
    particles = tmp_path / "p.npy"
    np.save(particles, np.zeros((10, 3)))
    kwargs = {"z_lens": 0.3, "z_source": 1.0, "npix": 64, "box": None, "particle_mass": None, "hubble": None,
              "n_gal": 50.0}
    _check_project_request(particles, tmp_path / "k.fits", None, **kwargs)
    with pytest.raises(InputError, match="need z_lens < z_source"):
        _check_project_request(particles, tmp_path / "k.fits", None, **{**kwargs, "z_source": 0.3})
    with pytest.raises(InputError, match="--npix must lie in"):
        _check_project_request(particles, tmp_path / "k.fits", None, **{**kwargs, "npix": 4})
    with pytest.raises(InputError, match="--hubble must lie in"):
        _check_project_request(particles, tmp_path / "k.fits", None, **{**kwargs, "hubble": 70.0})
    with pytest.raises(InputError, match=r"--compare-png .*expected a \.png"):
        _check_project_request(particles, tmp_path / "k.fits", tmp_path / "c.pdf", **kwargs)


def test_evaluate_refuses_a_missing_store(tmp_path):
    _refused(runner.invoke(app, ["evaluate", "--data", str(tmp_path / "absent.zarr"), "--out", str(tmp_path / "r")]),
             "no such dataset")
    assert not (tmp_path / "r").exists()
