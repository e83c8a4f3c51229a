"""The ``miu2net`` command: the typer app and its commands, each defined in its room (maps, sims, train).

Every command turns bad input (:class:`miu2net.errors.InputError`, unreadable files) into one line on
stderr and exit code 2; nothing half-written is left behind (files are written atomically).
"""

from __future__ import annotations

from typing import Annotated

import typer

from miu2net import __version__
from miu2net.cli.common import OneLineErrors, user_errors
from miu2net.cli.maps import evaluate, project, reconstruct
from miu2net.cli.sims import show_command, simulate_command
from miu2net.cli.train import calibrate_command, export_onnx_command, models_list_command, train_command

app = typer.Typer(
    name="miu2net",
    help="Weak-lensing mass mapping: shear in, convergence (kappa) maps out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=OneLineErrors,  # click's usage errors as one `error:` line, exit code 2
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"miu2net {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Weak-lensing mass mapping: shear in, convergence (kappa) maps out."""


app.command("reconstruct")(reconstruct)
app.command("project")(project)
app.command("evaluate")(evaluate)
app.command("simulate")(user_errors(simulate_command))
app.command("show")(user_errors(show_command))
app.command("train")(train_command)
app.command("calibrate")(calibrate_command)
_models = typer.Typer(help="Trained models and architectures.", no_args_is_help=True)
app.add_typer(_models, name="models")
_models.command("list")(models_list_command)
_models.command("export-onnx")(export_onnx_command)
