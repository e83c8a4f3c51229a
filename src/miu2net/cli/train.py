"""Typer commands for training and models, to be registered on the ``miu2net`` app by :mod:`miu2net.cli`::

    app.command("train")(train_command)
    app.command("calibrate")(calibrate_command)
    models = typer.Typer(help="Trained models and architectures."); app.add_typer(models, name="models")
    models.command("list")(models_list_command)
    models.command("export-onnx")(export_onnx_command)

Thin: parse, call :func:`miu2net.nn.module.fit` and friends, print. Bad input
(:class:`miu2net.errors.InputError`, an invalid option combination, unreadable files) is one line on
stderr and exit code 2.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Optional

import typer

from miu2net.cli.common import console
from miu2net.cli.common import user_errors as _user_errors
from miu2net.errors import InputError


def _read_config_file(path: Path) -> dict:
    """The ``train`` section (or the whole mapping) of a YAML or TOML file."""
    from miu2net.config import read_config_file

    data = read_config_file(path, yaml_fallback=True)
    return dict(data.get("train", data))


@_user_errors
def train_command(
    data: Annotated[Optional[Path], typer.Option(help="Training data: Zarr store of `miu2net simulate`, or .npz of stacked maps.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Run folder (checkpoints, logs, exported model).")] = None,
    arch: Annotated[Optional[str], typer.Option(help="Architecture: u2net-small, u2net-full or deepmass (default: u2net-small).")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Maximum number of epochs (default: 50).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Maps per batch and device (default: 16).")] = None,
    lr: Annotated[Optional[float], typer.Option(help="Peak learning rate of AdamW (default: 1e-3).")] = None,
    weight_decay: Annotated[Optional[float], typer.Option(help="AdamW weight decay (default: 1e-4).")] = None,
    schedule: Annotated[Optional[str], typer.Option(help="Learning-rate schedule: cosine, onecycle or constant (default: cosine).")] = None,
    accelerator: Annotated[Optional[str], typer.Option(help="Lightning accelerator: auto, cpu, gpu (default: auto).")] = None,
    devices: Annotated[Optional[str], typer.Option(help="Devices per node: a number, a list like 0,1, or auto (default: auto).")] = None,
    num_nodes: Annotated[Optional[int], typer.Option(help="Nodes for multi-node DDP (default: 1).")] = None,
    strategy: Annotated[Optional[str], typer.Option(help="Lightning strategy, e.g. ddp (default: auto).")] = None,
    precision: Annotated[Optional[str], typer.Option(help="32 or bf16-mixed (or 16-mixed) (default: 32).")] = None,
    workers: Annotated[Optional[int], typer.Option(help="DataLoader worker processes (default: 0).")] = None,
    patience: Annotated[Optional[int], typer.Option(help="Early-stopping patience in epochs, 0 for none (default: 10).")] = None,
    inputs: Annotated[Optional[str], typer.Option(help="Input channels, comma-separated from g1,g2,mask,noise,ks (default: architecture default).")] = None,
    out_channels: Annotated[Optional[int], typer.Option(help="Output channels: 1 (kappa) or 2 (kappa + spread) (default: 1).")] = None,
    freq_weight: Annotated[Optional[float], typer.Option(help="Weight of the power-spectrum loss term (default: 0.1).")] = None,
    ell_max: Annotated[Optional[float], typer.Option(help="Largest ell (1/rad) in the power-spectrum loss (default: Nyquist).")] = None,
    fresh_noise: Annotated[Optional[bool], typer.Option("--fresh-noise/--fixed-noise", help="New noise realisations each epoch (default: fixed).")] = None,
    stream: Annotated[Optional[bool], typer.Option("--stream/--no-stream", help="Train on maps simulated on the fly at random depths (--data then only validates).")] = None,
    steps_per_epoch: Annotated[Optional[int], typer.Option(help="--stream: batches per epoch (default: 500).")] = None,
    n_gal_range: Annotated[Optional[str], typer.Option(help="--stream: source density range MIN,MAX per arcmin^2, log-uniform (default: 5,100).")] = None,
    sim_config: Annotated[Optional[Path], typer.Option(help="--stream: survey/sim YAML or TOML (default: the --data store's configuration).")] = None,
    spread_loss: Annotated[Optional[str], typer.Option(help="Per-pixel spread output: none or gaussian_nll (sets --out-channels 2) (default: none).")] = None,
    noise_encoding: Annotated[Optional[str], typer.Option(help="Noise channel: log or inverse (default: log).")] = None,
    augment: Annotated[Optional[bool], typer.Option("--augment/--no-augment", help="Random rotations and flips (default: augment).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Global seed (default: 0).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/checkpoints/last.ckpt.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
    views_per_truth: Annotated[Optional[int], typer.Option(help="--stream: samples drawn from each simulated truth box (random shift and symmetry, own depth, mask and noise) (default: 1).")] = None,
    max_time_minutes: Annotated[Optional[float], typer.Option(help="Stop after this many minutes of wall-clock time and export the best weights so far.")] = None,
    config: Annotated[Optional[Path], typer.Option(help="YAML/TOML file of training options (a `train:` section or top level); flags override it.")] = None,
) -> None:
    """Train MIU2Net (or the DeepMass baseline) on a simulated data set; export the best model."""
    from miu2net.config import TrainConfig
    from miu2net.validate import check_number, check_output_path, check_seed

    if out is not None:
        check_output_path(out, "--out", inputs=[p for p in (data, config, sim_config) if p is not None], folder=True)
    for flag, path in (("--data", data), ("--config", config), ("--sim-config", sim_config)):
        if path is not None and not path.exists():
            raise InputError(f"{flag} {path}: no such file or folder")
    for flag, value in (("--lr", lr), ("--weight-decay", weight_decay), ("--freq-weight", freq_weight),
                        ("--ell-max", ell_max), ("--max-time-minutes", max_time_minutes)):
        check_number(value, flag, low=0.0, low_open=flag in ("--lr", "--ell-max", "--max-time-minutes"))
    check_seed(seed)
    options = _read_config_file(config) if config is not None else {}
    loss = dict(options.pop("loss", {}) or {})
    flags = {"data": data, "out": out, "arch": arch, "epochs": epochs, "batch_size": batch_size, "lr": lr,
             "weight_decay": weight_decay, "schedule": schedule, "accelerator": accelerator, "devices": devices,
             "num_nodes": num_nodes, "strategy": strategy, "precision": precision, "num_workers": workers,
             "patience": patience, "out_channels": out_channels, "fresh_noise": fresh_noise, "augment": augment,
             "seed": seed, "noise_encoding": noise_encoding, "max_time_minutes": max_time_minutes}
    options.update({k: v for k, v in flags.items() if v is not None})
    file_stream = options.pop("stream", None)  # a mapping of stream options, true, false or absent
    stream_options = dict(file_stream) if isinstance(file_stream, dict) else {}
    stream_flags = {"steps_per_epoch": steps_per_epoch, "sim_config": sim_config, "views_per_truth": views_per_truth,
                    "n_gal_arcmin2": None if n_gal_range is None else _parse_range(n_gal_range, "--n-gal-range")}
    stream_options.update({k: v for k, v in stream_flags.items() if v is not None})
    if stream is None:
        stream = bool(file_stream is not None and file_stream is not False) or any(
            v is not None for v in stream_flags.values())
    if stream:
        options["stream"] = stream_options
    elif any(v is not None for v in stream_flags.values()):
        raise InputError("--steps-per-epoch, --n-gal-range, --views-per-truth and --sim-config apply to --stream")
    if spread_loss is not None:
        loss["spread"] = spread_loss
    if loss.get("spread", "none") != "none":
        options.setdefault("out_channels", 2)
    if inputs is not None:
        options["inputs"] = tuple(c.strip() for c in inputs.split(",") if c.strip())
    if freq_weight is not None:
        loss["freq_weight"] = freq_weight
    if ell_max is not None:
        loss["ell_max"] = ell_max
    if loss:
        options["loss"] = loss
    options["resume"] = resume
    options["progress_bar"] = progress
    if options.get("out") is None:
        raise InputError("give --out, the run folder")
    if out is None:  # the run folder of the --config file, checked as --out is
        check_output_path(Path(options["out"]), f"--config {config}: out", folder=True,
                          inputs=[p for p in (data, config, sim_config) if p is not None])
    cfg = TrainConfig(**options)
    check_devices(cfg.accelerator, cfg.devices)
    check_all_devices_on_cpu(cfg.accelerator, cfg.devices)
    check_strategy(cfg.strategy)

    from miu2net.nn.module import check_train_config, fit

    check_train_config(cfg)

    lightning_log = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    lightning_log.addFilter(_no_interrupt_note)  # the one line on Ctrl-C is ours
    try:
        result = fit(cfg)
    except (KeyboardInterrupt, SystemExit) as exc:
        if isinstance(exc, SystemExit) and not isinstance(exc.__context__, KeyboardInterrupt):
            raise  # Lightning turns Ctrl-C into sys.exit(1); any other exit is not ours to change
        last = Path(cfg.out) / "checkpoints" / "last.ckpt"
        raise KeyboardInterrupt(
            f"the run folder {cfg.out} keeps its last whole checkpoint: continue with --resume"
            if last.exists() else "no checkpoint was written yet: start again without --resume") from None
    finally:
        lightning_log.removeFilter(_no_interrupt_note)
    metrics = result["metrics"]
    shown = ", ".join(f"{k} = {metrics[k]:.4g}" for k in ("val_loss", "val_rmse", "val_pearson", "val_ps_err",
                                                          "val_cover1s") if k in metrics)
    console.print(f"trained {cfg.arch} for {result['epochs']} epochs ({result['global_step']} steps); best epoch "
                  f"{metrics.get('best_epoch')}: {shown}\nexported {result['model']}.safetensors + .json",
                  highlight=False, soft_wrap=True)


def _no_interrupt_note(record: logging.LogRecord) -> bool:
    """A logging filter dropping Lightning's own note on Ctrl-C ("Detected KeyboardInterrupt, attempting
    graceful shutdown"), which ``train`` reports in its one ``error:`` line."""
    return "Detected KeyboardInterrupt" not in record.getMessage()


#: Lightning's accelerators that ``train`` takes (``gpu`` is CUDA's other name).
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")


def check_devices(accelerator: str, devices: int | str) -> None:
    """Refuse an accelerator this machine does not have and a device count or list that is not one, before
    any work (Lightning would refuse them only after the data are read)."""
    import torch

    accelerator = str(accelerator).strip().lower()
    if accelerator not in ACCELERATORS:
        raise InputError(f"--accelerator must be one of {', '.join(ACCELERATORS)}; got {accelerator!r}")
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if accelerator in ("gpu", "cuda") and gpus == 0:
        raise InputError(f"--accelerator {accelerator}: this machine has no CUDA GPU that torch can use; "
                         "give --accelerator cpu (or auto)")
    if accelerator == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise InputError("--accelerator mps: this machine has no Apple GPU (MPS); give --accelerator cpu (or auto)")
    text = str(devices).strip().lower()
    if text == "auto":
        return
    usage = "--devices takes auto, a number of devices (-1: all) or a list of GPU indices like 0,1"
    if isinstance(devices, int) or text.lstrip("-").isdigit():
        count = int(text)
        if count == 0 or count < -1:
            raise InputError(f"{usage}; got {devices!r}")
        if accelerator in ("gpu", "cuda") and count > gpus:
            raise InputError(f"--devices {count} asks for {count} GPUs; this machine has {gpus}")
        return
    try:
        indices = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{usage}; got {devices!r}") from None
    if not indices or min(indices) < 0:
        raise InputError(f"{usage}; got {devices!r}")
    if accelerator == "cpu":
        raise InputError(f"--devices {devices}: a list of indices names GPUs; with --accelerator cpu give a number "
                         "of processes")
    if not gpus:
        raise InputError(f"--devices {devices} names GPUs, and this machine has none: give auto or a number of CPU "
                         "processes (e.g. --devices 1)")
    if max(indices) >= gpus:
        raise InputError(f"--devices {devices}: this machine has {gpus} GPU(s), indices 0 to {gpus - 1}")


def check_all_devices_on_cpu(accelerator: str, devices: int | str) -> None:
    """Refuse --devices -1 (all GPUs) where training runs on the CPU (--accelerator cpu, or auto without a
    GPU): Lightning takes -1 for GPUs only and would fail with a traceback after the run folder was made."""
    import torch

    accelerator = str(accelerator).strip().lower()
    if str(devices).strip() != "-1" or accelerator not in ("cpu", "auto"):
        return
    if accelerator == "cpu" or not torch.cuda.is_available():
        why = "--accelerator cpu uses none" if accelerator == "cpu" else "this machine has none"
        raise InputError(f"--devices -1 means all GPUs, and {why}: give a number of CPU processes "
                         "(e.g. --devices 1) or auto")


def check_strategy(strategy: str) -> None:
    """Refuse a Lightning strategy name Lightning does not know, before any work (it would refuse it only
    after the run folder was made)."""
    from lightning.pytorch.strategies import StrategyRegistry

    names = ["auto", *StrategyRegistry.available_strategies()]
    if str(strategy) not in names:
        raise InputError(f"--strategy must be one of {', '.join(names)}; got {strategy!r}")


def _parse_range(text: str, flag: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"{flag} expects MIN,MAX (e.g. 5,100); got {text!r}") from None
    if not (0 < lo <= hi < float("inf")):
        raise InputError(f"{flag} expects finite MIN,MAX with 0 < MIN <= MAX; got {text!r}")
    return lo, hi


def _check_calibrate_numbers(n: int | None, edge_pixels: int | None, batch_size: int) -> None:
    if n is not None and n < 1:
        raise InputError(f"--n must be >= 1 (calibration maps); got {n}")
    if edge_pixels is not None and edge_pixels < 0:
        raise InputError(f"--edge-pixels must be >= 0; got {edge_pixels}")
    if batch_size < 1:
        raise InputError(f"--batch-size must be >= 1; got {batch_size}")


@_user_errors
def calibrate_command(
    model: Annotated[str, typer.Option(help="Model path (NAME.safetensors/.json) or shipped name.")],
    out: Annotated[Path, typer.Option(help="The calibrated model to write, a new path stem (NAME writes NAME.safetensors + NAME.json); never the model itself nor a shipped model.")],
    data: Annotated[Optional[Path], typer.Option(help="Calibration data: Zarr store of `miu2net simulate` or .npz, never trained on.")] = None,
    split: Annotated[str, typer.Option(help="Which split of --data to calibrate on.")] = "val",
    n: Annotated[Optional[int], typer.Option("--n", help="Use at most this many maps (--stream: how many; default 500).")] = None,
    stream: Annotated[bool, typer.Option("--stream", help="Calibrate on freshly simulated maps at the model's training depths (a stream the training never saw).")] = False,
    sim_config: Annotated[Optional[Path], typer.Option(help="--stream: survey/sim YAML or TOML (default: the --data store's).")] = None,
    seed: Annotated[int, typer.Option(help="--stream: seed of the calibration stream.")] = 0,
    edge_pixels: Annotated[Optional[int], typer.Option(help="Width of the map-edge pixel class (default: map size / 16).")] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:N or auto.")] = "cpu",
    batch_size: Annotated[int, typer.Option(help="Maps per forward pass.")] = 8,
) -> None:
    """Calibrate a trained model: conformal error bars and the CHI2DOF range, written with a copy of it to --out."""
    from miu2net.nn.calibration import REPORT_LEVELS, calibrate, check_calibration_target, save_calibration
    from miu2net.nn.checkpoint import load_model, model_stem
    from miu2net.nn.inference import resolve_device
    from miu2net.validate import check_new_model_stem, check_not_in_package, check_seed

    _check_calibrate_numbers(n, edge_pixels, batch_size)
    check_seed(seed)
    check_not_in_package(out, "--out")
    if data is not None and not data.exists():
        raise InputError(f"--data {data}: no such store or file")
    if sim_config is not None and not sim_config.is_file():
        raise InputError(f"--sim-config {sim_config}: no such file")
    trained = load_model(model)
    check_calibration_target(trained.path, out)
    check_new_model_stem(out, "--out")
    from miu2net.nn.calibration import calibration_samples

    dataset, description = calibration_samples(trained.config, data=data, split=split, stream=stream, n=n, seed=seed,
                                               sim_config=sim_config)
    samples = (dataset[i] for i in range(len(dataset)))
    dev = str(resolve_device(device))
    calibration = calibrate(trained, samples, pixel_arcmin=getattr(dataset, "pixel_arcmin", None), n_max=n,
                            edge_pixels=edge_pixels, batch_size=batch_size, device=dev, data=description)
    new_files = [f for f in (model_stem(out).with_suffix(s) for s in (".safetensors", ".json")) if not f.exists()]
    try:
        path = save_calibration(trained.path, calibration, out=out)
    except BaseException:  # cut short between the two files: no weights without their card
        for file in new_files:
            file.unlink(missing_ok=True)
        raise
    cov = calibration.empirical_coverage
    lines = [f"calibrated {trained.name} on {calibration.n_maps} maps ({calibration.n_pixels['all']} pixels, "
             f"score {calibration.score}); wrote {path}"]
    for c in REPORT_LEVELS:
        per = ", ".join(f"{r} {cov[r][f'{c:g}']:.3f}" for r in ("observed", "masked", "edge") if r in cov)
        lines.append(f"  coverage {c:g}: q = {calibration.quantile(c):.4g}; on the calibration pixels "
                     f"{cov['all'][f'{c:g}']:.3f} ({per})")
    lo, hi = calibration.chi2dof["range"]
    lines.append(f"  CHI2DOF accepted range [{lo:.4g}, {hi:.4g}] "
                 f"({len(calibration.chi2dof.get('bins') or [])} noise bins)")
    console.print("\n".join(lines), highlight=False, soft_wrap=True)


@_user_errors
def models_list_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    directory: Annotated[Optional[Path], typer.Option(help="Folder of models (default: the package's models/).")] = None,
) -> None:
    """List the registered architectures and the trained models shipped with miu2net."""
    from rich.table import Table

    from miu2net.nn.checkpoint import MODELS_DIR, list_models_on_disk
    from miu2net.nn.registry import list_models, model_info

    if directory is not None and not directory.is_dir():
        raise InputError(f"--directory {directory}: no such folder")
    archs = [model_info(name) for name in list_models()]
    models = list_models_on_disk(directory or MODELS_DIR)
    if as_json:
        typer.echo(json.dumps({"architectures": archs, "models": models}, indent=2))
        return
    from rich.console import Console

    out = Console()
    table = Table(title="Architectures")
    _add_columns(table, ("name", "parameters", "inputs", "description"), [[a["name"] for a in archs]])
    for a in archs:
        table.add_row(a["name"], f"{a['parameters'] / 1e6:.2f} M", ", ".join(a["inputs"]), a["description"])
    out.print(table)
    table = Table(title=f"Trained models ({directory or MODELS_DIR})")
    _add_columns(table, ("name", "arch", "map", "pixel \\[']", "noise σ", "val RMSE"),
                 [[m["name"] for m in models], [m["arch"] for m in models]])
    for m in models:
        noise = "-" if not m["noise_range"] else f"{m['noise_range'][0]:.3g} to {m['noise_range'][1]:.3g}"
        rmse = m["metrics"].get("val_rmse")
        table.add_row(m["name"], m["arch"], "x".join(str(v) for v in m["map_size"]), f"{m['pixel_arcmin']:g}",
                      noise, "-" if rmse is None else f"{rmse:.4g}")
    if not models:
        table.caption = "none yet: train one with `miu2net train`"
    out.print(table)


def _add_columns(table, names: tuple[str, ...], whole: list[list[str]]) -> None:
    """Columns of a ``models list`` table: the first ``len(whole)`` (names, given with their values)
    are never cut nor broken, the others wrap (at word breaks, else folded) when the terminal is narrow."""
    for name, values in zip(names, whole):
        table.add_column(name, no_wrap=True, min_width=max([len(v) for v in values] + [len(name)]))
    for name in names[len(whole):]:
        table.add_column(name, overflow="fold")


@_user_errors
def export_onnx_command(
    model: Annotated[str, typer.Argument(help="Model path (NAME.safetensors/.json) or shipped name.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .onnx file.")],
) -> None:
    """Export a trained model to ONNX (input: raw \\[batch, 4, ny, nx] g1, g2, mask, noise)."""
    from miu2net.validate import check_output_path

    check_output_path(out, "-o")
    from miu2net.nn.export import export_onnx

    path = export_onnx(model, out)
    console.print(f"wrote {path}", highlight=False)
