"""The ``miu2net`` command: parse, call the library, print. No physics here.

Every command turns bad input (:class:`miu2net.errors.InputError`, unreadable files) into one line on
stderr and exit code 2; nothing half-written is left behind (files are written atomically).
"""

from __future__ import annotations

import functools
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from miu2net import __version__
from miu2net.errors import InputError

app = typer.Typer(
    name="miu2net",
    help="Weak-lensing mass mapping: shear in, convergence (kappa) maps out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)


def user_errors(func):
    """Report InputError / OSError as one line on stderr with exit code 2, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except InputError as exc:
            console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None
        except OSError as exc:
            console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None

    return wrapper


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


def parse_options(pairs: list[str]) -> dict:
    """``KEY=VALUE`` strings to a dict; values are read as JSON when they parse (numbers, true/false)."""
    options = {}
    for pair in pairs:
        if "=" not in pair:
            raise InputError(f"--option expects KEY=VALUE; got {pair!r}")
        key, value = pair.split("=", 1)
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options


@app.command()
@user_errors
def reconstruct(
    shear_file: Annotated[Path, typer.Argument(help="Gridded shear: FITS (G1, G2, [MASK], [NOISE]) or .npz.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output convergence FITS.")],
    method: Annotated[str, typer.Option(help="Reconstruction method (ks, ...).")] = "ks",
    png: Annotated[Optional[Path], typer.Option(help="Also write a PNG figure here.")] = None,
    smooth: Annotated[
        Optional[float], typer.Option(help="Gaussian smoothing, standard deviation in arcmin (ks only).")
    ] = None,
    option: Annotated[
        Optional[list[str]], typer.Option("--option", help="Method option KEY=VALUE (repeatable).")
    ] = None,
) -> None:
    """Reconstruct a convergence map from gridded shear and write it as FITS (and PNG)."""
    from miu2net.io import read_shear_map, write_kappa_map
    from miu2net.methods import reconstruct as run_method

    shear = read_shear_map(shear_file)
    options = parse_options(option or [])
    if smooth is not None:
        if method != "ks":
            raise InputError("--smooth applies to --method ks; other methods take their own --option")
        options["smooth_arcmin"] = smooth
    kappa = run_method(shear, method, **options)
    kappa = replace(kappa, meta={**kappa.meta, "input": str(shear_file)})
    write_kappa_map(kappa, output)
    message = f"wrote {output} (method {method}, {kappa.shape[0]}x{kappa.shape[1]} at {shear.pixel_arcmin:g}')"
    if "chi2dof" in kappa.meta:
        message += f", CHI2DOF = {kappa.meta['chi2dof']:.3f}"
    if png is not None:
        from miu2net.plots import plot_kappa

        plot_kappa(kappa.kappa_e, png, pixel_arcmin=kappa.pixel_arcmin, kappa_b=kappa.kappa_b, snr=kappa.snr,
                   title=f"{method}: {shear_file.name}")
        message += f"; figure {png}"
    console.print(message, highlight=False, soft_wrap=True)


def run() -> None:  # pragma: no cover - console entry point
    app(prog_name="miu2net")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
