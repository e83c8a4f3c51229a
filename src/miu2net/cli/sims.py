"""The ``simulate`` and ``show`` commands, as plain functions with typer-annotated parameters.

They are registered on the app in :mod:`miu2net.cli` (``app.command("simulate")(simulate_command)``,
``app.command("show")(show_command)``). Thin: parse, call :mod:`miu2net.sims.dataset` or
:mod:`miu2net.plots`, print. Bad input raises :class:`miu2net.errors.InputError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from miu2net.errors import InputError


def _build_config(preset_name: str, config_file: Path | None, n: int | None, n_test: int | None, seed: int | None):
    """The preset, overridden by the file (whose own ``preset`` key, if any, wins), then by the options."""
    from miu2net.config import PRESETS, load_config, preset

    if preset_name not in PRESETS:
        raise InputError(f"unknown preset {preset_name!r}; choose one of: {', '.join(PRESETS)}")
    config = load_config(config_file, default_preset=preset_name) if config_file is not None else preset(preset_name)
    overrides = {k: v for k, v in (("n_samples", n), ("n_test", n_test), ("seed", seed)) if v is not None}
    for flag, value in (("--n", n), ("--n-test", n_test)):
        if value is not None and value < 0:
            raise InputError(f"{flag} must be >= 0; got {value}")
    if overrides:
        try:
            config = config.updated(sim=overrides)
        except ValueError as exc:
            raise InputError(f"invalid option: {exc}") from None
    return config


def _check_simulate_request(out: Path, config: Path | None, kappa_from: Path | None,
                            kappa_pixel_arcmin: float | None, batch_size: int, workers: int | None,
                            seed: int | None = None) -> None:
    """The paths and numbers of ``simulate``, checked before the configuration is built (InputError)."""
    from miu2net.validate import check_number, check_output_path, check_seed

    check_output_path(out, "--out", inputs=[p for p in (config, kappa_from) if p is not None], folder=True)
    if config is not None and not config.is_file():
        raise InputError(f"--config {config}: no such configuration file")
    if kappa_from is not None and not kappa_from.is_dir():
        raise InputError(f"--kappa-from {kappa_from}: no such directory")
    check_number(kappa_pixel_arcmin, "--kappa-pixel-arcmin", low=0.0, low_open=True, unit="arcmin")
    if batch_size < 1:
        raise InputError(f"--batch-size must be >= 1; got {batch_size}")
    if workers is not None and workers < 1:
        raise InputError(f"--workers must be >= 1; got {workers}")
    check_seed(seed)


def _check_scheduler(scheduler: str | None) -> None:
    """Refuse a Dask scheduler address that cannot be reached, before the store is created: one TCP
    connection, with a short timeout (``sync`` and local clusters need nothing)."""
    if scheduler is None or scheduler == "sync":
        return
    import socket
    from urllib.parse import urlsplit

    address = urlsplit(scheduler if "://" in scheduler else f"tcp://{scheduler}")  # Dask's default protocol
    if address.scheme not in ("tcp", "tls"):
        return  # other protocols (inproc, ucx, ws): left to Dask
    try:
        host, port = address.hostname, address.port
    except ValueError:
        host = port = None
    if not host or port is None:
        raise InputError(f"--scheduler takes 'sync' or a scheduler address {address.scheme}://HOST:PORT; "
                         f"got {scheduler!r}")
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        raise InputError(f"--scheduler {scheduler}: cannot reach a Dask scheduler there ({exc}); start one "
                         "(dask scheduler) or drop --scheduler for a local cluster") from None


def simulate_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Zarr store to write (a folder; resumed if it holds an unfinished run of the same configuration).")],
    preset: Annotated[str, typer.Option(help="Survey preset: csst, csst-small, euclid or lsst.")] = "csst",
    n: Annotated[int | None, typer.Option("--n", help="Training + validation samples (split 5:1). Default: the configuration's (6000).")] = None,
    n_test: Annotated[int | None, typer.Option("--n-test", help="Held-out test samples (own seeds). Default: the configuration's (1000).")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="YAML or TOML configuration overriding the preset.")] = None,
    seed: Annotated[int | None, typer.Option(help="Base seed (sample seeds derive from it).")] = None,
    scheduler: Annotated[str | None, typer.Option(help="Address of a running Dask scheduler (tcp://host:8786), or 'sync' to run in this process without Dask.")] = None,
    workers: Annotated[int | None, typer.Option(help="Local Dask worker processes (default 2).")] = None,
    kappa_from: Annotated[Path | None, typer.Option("--kappa-from", help="Folder of your own convergence maps (FITS or .npy) to use as truth.")] = None,
    kappa_pixel_arcmin: Annotated[float | None, typer.Option("--kappa-pixel-arcmin", help="Pixel scale of the --kappa-from maps in arcmin (overrides PIXSCALE/WCS; required for .npy).")] = None,
    batch_size: Annotated[int, typer.Option(help="Samples per Dask task.")] = 4,
    truth: Annotated[str | None, typer.Option("--truth", help="Truth convergence: halo_model (Gaussian field + NFW halos) or nbody (lens planes of particle-mesh simulations, cached in the plane bank). Default: the configuration's (halo_model).")] = None,
    bank: Annotated[Path | None, typer.Option("--bank", help="Plane-bank folder for --truth nbody. Default: $MIU2NET_NBODY_BANK or ~/.cache/miu2net/nbody.")] = None,
) -> None:
    """Simulate a training / validation / test set of (kappa, shear, noisy masked shear, mask, noise) maps."""
    from rich.console import Console

    from miu2net.sims.dataset import create_dataset

    _check_simulate_request(out, config, kappa_from, kappa_pixel_arcmin, batch_size, workers, seed)
    _check_scheduler(scheduler)
    cfg = _build_config(preset, config, n, n_test, seed)
    if truth is not None and truth not in ("halo_model", "nbody"):
        raise InputError(f"--truth must be halo_model or nbody; got {truth!r}")
    if truth is not None and kappa_from is not None:
        raise InputError("--truth and --kappa-from both choose the truth; give one of them")
    if bank is not None and (truth or cfg.sim.truth) != "nbody":
        raise InputError("--bank is the N-body plane bank: it needs --truth nbody")
    sim_updates = {}
    if truth is not None:
        sim_updates["truth"] = truth
    if bank is not None:
        if bank.exists() and not bank.is_dir():
            raise InputError(f"--bank {bank} is a file; give a folder for the plane bank")
        sim_updates["nbody"] = {"bank": str(bank)}  # merged into the configured nbody section
    if sim_updates:
        cfg = cfg.updated(sim=sim_updates)
    if kappa_from is None and cfg.sim.n_samples + cfg.sim.n_test == 0:
        raise InputError("--n 0 and --n-test 0 would write an empty store: give --n (training + validation) "
                         "and/or --n-test at least 1")
    from miu2net.validate import check_map_size_memory, largest_map_side

    check_map_size_memory(cfg.survey.map_size, flag="survey.map_size",
                          advice=f"give at most map_size {largest_map_side()} in the survey section of --config "
                                 "(or a larger pixel_arcmin)")
    console = Console(stderr=True)
    s = cfg.survey
    console.print(
        f"[bold]{s.name}[/]: {s.map_size}² px of {s.pixel_arcmin}′, n_gal {s.n_gal_arcmin2}/arcmin², "
        f"σ_e {s.shape_noise_sigma}, {'z_s = ' + str(s.z_source) if s.z_source else 'n(z)'}; "
        + (f"N-body truth ({cfg.sim.nbody.box_mpc_h:g} Mpc/h, {cfg.sim.nbody.n_mesh}³ particles)"
           if cfg.sim.truth == "nbody" else
           f"field {cfg.sim.field}, halos {'on' if cfg.sim.halos.enabled else 'off'}")
        + (f"; truth from {kappa_from} (split sizes set by the number of maps)" if kappa_from is not None
           else f"; train {cfg.sim.n_train}, val {cfg.sim.n_val}, test {cfg.sim.n_test}")
    )
    try:
        report = create_dataset(out, cfg, scheduler=scheduler, workers=workers, kappa_from=kappa_from,
                                kappa_pixel_arcmin=kappa_pixel_arcmin, batch_size=batch_size, console=console)
    except KeyboardInterrupt:  # a store with finished samples is kept (resumable); one without is removed
        raise KeyboardInterrupt(f"{out} keeps the samples finished so far: rerun the same command to resume"
                                if out.exists() and any(out.iterdir()) else "nothing was written") from None
    console.print(
        f"{report.path}: {report.generated} sample(s) generated"
        + (f", {report.already_done} already there" if report.already_done else "")
        + f" in {report.seconds:.1f} s ({report.samples_per_second:.2f}/s); splits {report.splits}"
    )


def show_command(
    store: Annotated[Path, typer.Argument(help="Zarr store written by `miu2net simulate`.")],
    index: Annotated[int, typer.Option(help="Sample index within the split.")] = 0,
    split: Annotated[str, typer.Option(help="train, val or test.")] = "train",
    output: Annotated[Path, typer.Option("--output", "-o", help="PNG to write.")] = Path("sample.png"),
) -> None:
    """Plot one sample: truth kappa, noisy reduced shear and mask, side by side."""
    from miu2net.plots import plot_sample
    from miu2net.sims.dataset import SimDataset

    from miu2net.validate import check_output_path

    if not store.is_dir():
        raise InputError(f"{store}: no such dataset (a Zarr folder written by `miu2net simulate`)")
    if split not in ("train", "val", "test"):
        raise InputError(f"--split must be train, val or test; got {split!r}")
    check_output_path(output, "-o", inputs=[store], suffix=".png")
    data = SimDataset(store, split, require_complete=False)
    if not -len(data) <= index < len(data):
        raise InputError(f"--index {index} is out of range: split {split} holds {len(data)} samples")
    index = index % len(data)  # -1 is the last sample, as in Python; said below
    info = data.info(index)
    if not info["done"]:
        raise InputError(f"sample {index} of split {split} has not been generated yet; resume `miu2net simulate`")
    sample = data[index]
    title = (f"{Path(store).name} {split}[{index}]  seed {info['seed']}  halos {info['n_halos']}  "
             f"masked {info['masked_fraction']:.1%}")
    plot_sample(sample, output, pixel_arcmin=data.pixel_arcmin, title=title)
    typer.echo(f"wrote {output} (sample {index} of split {split})")
