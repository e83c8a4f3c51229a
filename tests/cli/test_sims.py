"""The simulate and show commands: configuration building, request checks and one-line refusals.

No simulation runs here: every case is refused (or built) before a sample is drawn."""

import socket

import pytest
from cli_helpers import assert_refused as _refused
from typer.testing import CliRunner

from miu2net.cli import app
from miu2net.cli.sims import _build_config, _check_scheduler, _check_simulate_request
from miu2net.errors import InputError

runner = CliRunner()


def test_build_config_from_preset_file_and_options(tmp_path):
    cfg = _build_config("csst-small", None, 12, 3, 7)
    assert cfg.survey.map_size == 128 and (cfg.sim.n_samples, cfg.sim.n_test, cfg.sim.seed) == (12, 3, 7)
    (tmp_path / "c.yaml").write_text("survey:\n  n_gal_arcmin2: 20\n")
    from_file = _build_config("euclid", tmp_path / "c.yaml", None, None, None)
    assert from_file.preset == "euclid" and from_file.survey.n_gal_arcmin2 == 20, "the file overrides the preset"
    (tmp_path / "own.yaml").write_text("preset: lsst\n")
    assert _build_config("euclid", tmp_path / "own.yaml", None, None, None).preset == "lsst", "the file's preset wins"
    with pytest.raises(InputError, match="unknown preset 'des'"):
        _build_config("des", None, None, None, None)
    with pytest.raises(InputError, match="--n-test must be >= 0; got -1"):
        _build_config("csst", None, 5, -1, None)


def test_simulate_request_checks(tmp_path):
    _check_simulate_request(tmp_path / "store.zarr", None, None, None, 4, None)
    with pytest.raises(InputError, match="--config .*: no such configuration file"):
        _check_simulate_request(tmp_path / "s.zarr", tmp_path / "absent.yaml", None, None, 4, None)
    with pytest.raises(InputError, match="--kappa-from .*: no such directory"):
        _check_simulate_request(tmp_path / "s.zarr", None, tmp_path / "maps", None, 4, None)
    with pytest.raises(InputError, match="--batch-size must be >= 1; got 0"):
        _check_simulate_request(tmp_path / "s.zarr", None, None, None, 0, None)
    with pytest.raises(InputError, match="--workers must be >= 1; got 0"):
        _check_simulate_request(tmp_path / "s.zarr", None, None, None, 4, 0)
    with pytest.raises(InputError, match="--kappa-pixel-arcmin must lie in"):
        _check_simulate_request(tmp_path / "s.zarr", None, None, -0.4, 4, None)
    with pytest.raises(InputError, match="--seed must be a whole number"):
        _check_simulate_request(tmp_path / "s.zarr", None, None, None, 4, None, seed=-2)


def test_scheduler_address_is_checked_before_the_store_is_made():
    _check_scheduler(None)
    _check_scheduler("sync")
    _check_scheduler("inproc://x")  # other protocols: left to Dask
    with pytest.raises(InputError, match="--scheduler takes 'sync' or a scheduler address tcp://HOST:PORT"):
        _check_scheduler("tcp://nohost")
    with socket.socket() as s:  # a free port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(InputError, match="cannot reach a Dask scheduler there"):
        _check_scheduler(f"127.0.0.1:{port}")


@pytest.mark.parametrize("args, expected", [
    (["--preset", "des"], "unknown preset 'des'"),
    (["--truth", "lognormal", "--n", "1", "--n-test", "0"], "--truth must be halo_model or nbody"),
    (["--n", "0", "--n-test", "0"], "would write an empty store"),
    (["--bank", "somewhere"], "--bank is the N-body plane bank: it needs --truth nbody"),
])
def test_simulate_refuses_bad_options_and_writes_nothing(tmp_path, args, expected):
    out = tmp_path / "store.zarr"
    _refused(runner.invoke(app, ["simulate", "--out", str(out), "--scheduler", "sync", *args]), expected)
    assert not out.exists()


def test_show_refuses_a_missing_store_a_bad_split_and_a_non_png(tmp_path):
    _refused(runner.invoke(app, ["show", str(tmp_path / "absent.zarr")]), "no such dataset")
    store = tmp_path / "store.zarr"
    store.mkdir()
    _refused(runner.invoke(app, ["show", str(store), "--split", "dev"]), "--split must be train, val or test; got 'dev'")
    _refused(runner.invoke(app, ["show", str(store), "-o", str(tmp_path / "s.jpg")]), "expected a .png file name")
