"""The ``miu2net`` command: version, help listing every command, one-line usage errors."""

import re

from cli_helpers import assert_refused as _one_error_line
from typer.testing import CliRunner

from miu2net import __version__
from miu2net.cli import app

runner = CliRunner()
COMMANDS = ("reconstruct", "project", "evaluate", "simulate", "show", "train", "calibrate", "models")


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_version_line():
    result = runner.invoke(app, ["--version"])
    assert result.output.strip() == f"miu2net {__version__}"
    assert re.fullmatch(r"\d+\.\d+(\.\d+)?\S*", __version__)


def test_help_lists_every_command():
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    for command in COMMANDS:
        assert re.search(rf"\b{command}\b", result.output), f"{command} missing from --help"
    models = runner.invoke(app, ["models", "--help"], env={"COLUMNS": "120"})
    assert models.exit_code == 0 and "list" in models.output and "export-onnx" in models.output


def test_bare_command_shows_the_help():
    result = runner.invoke(app, [])
    assert "reconstruct" in result.output and "Usage" in result.output
    assert "error:" not in result.output


def test_usage_errors_are_one_line_with_exit_code_2():
    _one_error_line(runner.invoke(app, ["reconstrct"]), "No such command 'reconstrct'")
    _one_error_line(runner.invoke(app, ["show", "x.zarr", "--index", "three"]), "Invalid value for '--index'")
    _one_error_line(runner.invoke(app, ["reconstruct", "--bogus"]), "No such option: --bogus")
