"""What every command shares: one-line errors with exit codes, --option and --center parsing, clean-up."""

import pytest
import typer
from typer.testing import CliRunner

from miu2net.cli.common import INTERRUPTED, parse_center, parse_options, removed_if_unfinished, user_errors
from miu2net.errors import InputError

runner = CliRunner()


def _app(func):
    app = typer.Typer()
    app.command()(user_errors(func))
    app.command("other")(lambda: None)  # two commands: typer keeps the name
    return app


def test_input_error_is_one_line_on_stderr_with_exit_code_2():
    def bad():
        raise InputError("--size must lie in [8, inf]; got 4")

    result = runner.invoke(_app(bad), ["bad"])
    assert result.exit_code == 2
    assert result.output.strip() == "error: --size must lie in [8, inf]; got 4", "square brackets kept as text"


def test_os_errors_validation_errors_and_ctrl_c():
    from pydantic import BaseModel, ConfigDict

    class Strict(BaseModel):
        model_config = ConfigDict(extra="forbid")
        n: int = 1

    def unreadable():
        raise PermissionError("[Errno 13] Permission denied: 'x.fits'")

    def invalid():
        Strict(n="many", typo=2)

    def interrupted():
        raise KeyboardInterrupt("the store keeps 3 samples: resume")

    result = runner.invoke(_app(unreadable), ["unreadable"])
    assert result.exit_code == 2 and "error: [Errno 13] Permission denied" in result.output
    result = runner.invoke(_app(invalid), ["invalid"])
    assert result.exit_code == 2 and result.output.count("error:") == 1
    assert "n: " in result.output and "typo: " in result.output
    result = runner.invoke(_app(interrupted), ["interrupted"])
    assert result.exit_code == INTERRUPTED == 130
    assert "error: interrupted (Ctrl-C); the store keeps 3 samples: resume" in result.output


def test_other_exceptions_are_not_swallowed():
    def broken():
        raise ZeroDivisionError("a bug")

    result = runner.invoke(_app(broken), ["broken"])
    assert isinstance(result.exception, ZeroDivisionError)


def test_parse_options_reads_json_values():
    assert parse_options(["smooth_arcmin=1.5", "pad=false", "b_mode=zero", "n=3", "flag=True", "x=[1, 2]"]) == {
        "smooth_arcmin": 1.5, "pad": False, "b_mode": "zero", "n": 3, "flag": True, "x": [1, 2]}
    assert parse_options(["expr=a=b"]) == {"expr": "a=b"}, "only the first = splits"
    assert parse_options([]) == {}
    with pytest.raises(InputError, match="--option expects KEY=VALUE; got 'smooth'"):
        parse_options(["smooth"])


def test_parse_center():
    assert parse_center("150.1,2.2") == (150.1, 2.2)
    assert parse_center(None) is None
    for bad in ("150.1", "a,b", "1,2,3"):
        with pytest.raises(InputError, match="--center expects RA,DEC in degrees"):
            parse_center(bad)


def test_removed_if_unfinished_removes_only_what_it_added(tmp_path):
    (tmp_path / "old.txt").write_text("kept")
    with pytest.raises(RuntimeError), removed_if_unfinished(tmp_path):
        (tmp_path / "new.txt").write_text("half")
        (tmp_path / "sub").mkdir()
        (tmp_path / "sub" / "x").write_text("x")
        raise RuntimeError("cut short")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.txt"]
    new = tmp_path / "a" / "b"
    with pytest.raises(KeyboardInterrupt), removed_if_unfinished(new):
        new.mkdir(parents=True)
        raise KeyboardInterrupt
    assert not (tmp_path / "a").exists(), "the highest folder it made is gone"
    with removed_if_unfinished(tmp_path):
        (tmp_path / "done.txt").write_text("whole")
    assert (tmp_path / "done.txt").exists()
