"""train, calibrate and the model commands: flags, device checks, number parsing and one-line refusals.

Nothing trains here: every train or calibrate case is refused before the data are read."""

import json

import pytest
from cli_helpers import assert_refused as _refused
from typer.testing import CliRunner

from miu2net.cli import app
from miu2net.cli.train import _check_calibrate_numbers, _parse_range, check_devices
from miu2net.errors import InputError

runner = CliRunner()


def test_train_help_lists_its_flags():
    result = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for flag in ("--data", "--out", "--arch", "--epochs", "--batch-size", "--lr", "--accelerator", "--devices",
                 "--stream", "--spread-loss", "--noise-encoding", "--resume", "--max-time-minutes", "--config",
                 "--augment", "--fresh-noise"):
        assert flag in result.output, f"{flag} missing from train --help"


@pytest.mark.parametrize("args, expected", [
    (["--lr", "0"], "--lr must lie in (0, inf]"),
    (["--lr", "nan"], "--lr must be a finite number"),
    (["--seed", "-1"], "--seed must be a whole number"),
    (["--data", "absent.zarr"], "--data absent.zarr: no such file or folder"),
    (["--stream", "--n-gal-range", "100,5"], "--n-gal-range expects finite MIN,MAX with 0 < MIN <= MAX"),
    (["--steps-per-epoch", "3", "--no-stream"], "apply to --stream"),
    (["--accelerator", "tpu"], "--accelerator must be one of"),
    (["--epochs", "0"], "epochs"),
])
def test_train_refuses_bad_values_before_any_work(tmp_path, monkeypatch, args, expected):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["train", "--out", str(tmp_path / "run"), *args])
    _refused(result, expected)
    assert not (tmp_path / "run").exists()


def test_train_needs_an_out_folder(tmp_path):
    _refused(runner.invoke(app, ["train", "--data", str(tmp_path)]), "give --out, the run folder")


def test_a_config_file_with_an_unknown_key_is_refused_naming_it(tmp_path):
    (tmp_path / "train.yaml").write_text("train:\n  epochz: 3\n")
    result = runner.invoke(app, ["train", "--out", str(tmp_path / "run"), "--config", str(tmp_path / "train.yaml")])
    _refused(result, "epochz")


def test_check_devices():
    check_devices("cpu", "auto")
    check_devices("cpu", 2)
    check_devices("auto", "-1")
    for accelerator, devices, message in (("tpu", "auto", "--accelerator must be one of"),
                                          ("cpu", 0, "--devices takes auto"),
                                          ("cpu", "0,1", "a list of indices names GPUs"),
                                          ("auto", "a,b", "--devices takes auto")):
        with pytest.raises(InputError, match=message):
            check_devices(accelerator, devices)


def test_ranges_and_calibrate_numbers():
    assert _parse_range("5,100", "--n-gal-range") == (5.0, 100.0)
    assert _parse_range("7,7", "--n-gal-range") == (7.0, 7.0)
    for bad in ("5", "a,b", "0,5", "5,inf"):
        with pytest.raises(InputError, match="--n-gal-range expects"):
            _parse_range(bad, "--n-gal-range")
    _check_calibrate_numbers(None, None, 1)
    with pytest.raises(InputError, match="--n must be >= 1"):
        _check_calibrate_numbers(0, None, 8)
    with pytest.raises(InputError, match="--edge-pixels must be >= 0"):
        _check_calibrate_numbers(None, -1, 8)
    with pytest.raises(InputError, match="--batch-size must be >= 1"):
        _check_calibrate_numbers(None, None, 0)


def test_calibrate_refuses_a_bad_count_and_a_missing_model(tmp_path):
    _refused(runner.invoke(app, ["calibrate", "--model", "x", "--out", str(tmp_path / "c"), "--n", "0"]),
             "--n must be >= 1")
    _refused(runner.invoke(app, ["calibrate", "--model", str(tmp_path / "absent"), "--out", str(tmp_path / "c")]),
             "no model")


def test_models_list_as_json():
    result = runner.invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0, result.output
    listing = json.loads(result.output)
    assert {"u2net_small", "u2net_full", "deepmass"} <= {a["name"] for a in listing["architectures"]}
    assert all(a["parameters"] > 0 for a in listing["architectures"])
    assert isinstance(listing["models"], list)


def test_models_list_of_a_missing_folder_and_export_of_a_missing_model(tmp_path):
    _refused(runner.invoke(app, ["models", "list", "--directory", str(tmp_path / "none")]), "no such folder")
    _refused(runner.invoke(app, ["models", "export-onnx", str(tmp_path / "absent"), "-o", str(tmp_path / "m.onnx")]),
             "no model")
    assert not (tmp_path / "m.onnx").exists()
