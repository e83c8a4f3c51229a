r"""Training: the LightningModule (loss, optimiser, metrics, logs) and :func:`fit`, one run from a config.

The network (:mod:`.u2net`, :mod:`.unet`) knows nothing of training; :class:`MassMappingModule` holds the
loss (:class:`miu2net.nn.losses.MassMappingLoss` over every output), AdamW with a per-step schedule
(linear warm-up then cosine, or one-cycle, or constant) and the metrics logged per epoch:

* ``{train,val,test}_loss`` and its ``_spatial`` / ``_freq`` parts (fused output, standardised units),
  and ``_nll`` with a spread loss;
* ``val_rmse``: RMSE of κ in physical units (fused output, every pixel);
* ``val_pearson``: Pearson r between predicted and true κ;
* ``val_ps_err``: mean over the loss's spectral bins of :math:`|\bar C_\ell^{\rm pred}/\bar C_\ell^{\rm true} - 1|`
  of the batch-averaged spectra (the benchmark protocol's power-spectrum criterion, docs/results.md, per batch);
* ``val_cover1s`` (with a spread channel): the fraction of pixels with :math:`|\hat\kappa-\kappa| <
  \hat\sigma`, the raw (uncalibrated) 1σ coverage, 0.683 for a well-shaped Gaussian spread.

With ``config.stream`` the training maps are simulated on the fly (:mod:`miu2net.nn.streaming`,
``steps_per_epoch`` batches per epoch, each map new) and ``config.data`` only validates; the Trainer
then leaves the samplers to the DataModule (``use_distributed_sampler=False``).

:func:`fit` wires a run (devices, precision and strategy are Trainer flags, not code paths):
the DataModule from ``config.data``, ModelCheckpoint (best on ``val_loss`` and ``last.ckpt`` every
epoch), early stopping, learning-rate monitor, rich progress bar, TensorBoard and CSV loggers (a new
version folder per launch, nothing deleted), resume from ``out/checkpoints/last.ckpt`` (epoch, step,
optimiser, schedule, callbacks and the exact model options of ``out/run.json``), and at the end the
export of the best weights to ``out/model.safetensors`` + ``out/model.json``
(:func:`miu2net.nn.checkpoint.save_model`) with the validation metrics of those weights.
"""

from __future__ import annotations

import json
import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.plugins import TorchCheckpointIO

from miu2net.config import TrainConfig
from miu2net.errors import InputError
from miu2net.io.files import atomic_write
from miu2net.nn.checkpoint import jsonable
from miu2net.nn.losses import MassMappingLoss
from miu2net.nn.registry import create_model, list_models


def _model_kwargs(arch_kwargs: dict) -> dict:
    kwargs = dict(arch_kwargs)
    if "inputs" in kwargs:
        kwargs["inputs"] = tuple(kwargs["inputs"])
    return kwargs


class MassMappingModule(L.LightningModule):
    """Loss, optimiser and metrics around a registered network (module docstring).

    Args:
        arch, arch_kwargs: :func:`miu2net.nn.registry.create_model` arguments (with the normalisation).
        pixel_arcmin: pixel side of the training maps (for the power-spectrum bins).
        map_size: training map size [ny, nx] (recorded in checkpoints).
        loss: :class:`miu2net.nn.losses.MassMappingLoss` keyword arguments.
        lr, weight_decay: AdamW peak learning rate and weight decay.
        schedule: ``cosine``, ``onecycle`` or ``constant``.
        warmup_fraction, final_lr_fraction: of the cosine schedule.
    """

    def __init__(
        self,
        arch: str,
        arch_kwargs: dict,
        *,
        pixel_arcmin: float,
        map_size: list[int] | None = None,
        loss: dict | None = None,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        schedule: str = "cosine",
        warmup_fraction: float = 0.05,
        final_lr_fraction: float = 1e-3,
        freeze_batchnorm: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = create_model(arch, **_model_kwargs(arch_kwargs))
        self.loss_fn = MassMappingLoss(pixel_arcmin=pixel_arcmin, **(loss or {}))
        self.freeze_batchnorm = bool(freeze_batchnorm)

    def train(self, mode: bool = True):
        """``nn.Module.train``, keeping BatchNorm layers in evaluation mode when ``freeze_batchnorm``."""
        super().train(mode)
        if mode and self.freeze_batchnorm:
            for layer in self.model.modules():
                if isinstance(layer, torch.nn.modules.batchnorm._BatchNorm):
                    layer.eval()
        return self

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        return self.model(raw)

    def _shared_step(self, batch: Any, stage: str) -> torch.Tensor:
        raw, kappa = batch
        outputs = self.model.forward_all(raw)
        target = kappa / self.model.kappa_scale
        loss, parts = self.loss_fn(outputs, target)
        on_step = stage == "train"
        sync = True  # scalars only: cheap, and epoch values are then means over every device
        bs = raw.shape[0]
        self.log(f"{stage}_loss", loss, on_step=on_step, on_epoch=True, prog_bar=True, batch_size=bs, sync_dist=sync)
        self.log(f"{stage}_spatial", parts["spatial"], on_step=False, on_epoch=True, batch_size=bs, sync_dist=sync)
        self.log(f"{stage}_freq", parts["freq"], on_step=False, on_epoch=True, batch_size=bs, sync_dist=sync)
        if "nll" in parts:
            self.log(f"{stage}_nll", parts["nll"], on_step=False, on_epoch=True, batch_size=bs, sync_dist=sync)
        if stage != "train":
            self._log_metrics(outputs[0], target, stage, bs)
        return loss

    @torch.no_grad()
    def _log_metrics(self, fused: torch.Tensor, target: torch.Tensor, stage: str, bs: int) -> None:
        pred = fused[:, :1].float()
        target = target.float()
        scale = self.model.kappa_scale
        rmse = torch.sqrt(torch.mean((pred - target) ** 2)) * scale
        p = pred - pred.mean(dim=(-2, -1), keepdim=True)
        t = target - target.mean(dim=(-2, -1), keepdim=True)
        pearson = (p * t).sum() / torch.sqrt((p * p).sum() * (t * t).sum()).clamp_min(1e-30)
        spec, keep = self.loss_fn._spectrum(tuple(pred.shape[-2:]), pred.device)
        c_pred = spec(pred[:, 0]).mean(0)[keep]
        c_true = spec(target[:, 0]).mean(0)[keep]
        ps_err = torch.mean(torch.abs(c_pred / c_true.clamp_min(1e-30) - 1.0))
        metrics = [("rmse", rmse), ("pearson", pearson), ("ps_err", ps_err)]
        if self.loss_fn.spread != "none" and fused.shape[1] > 1:
            log_sigma = fused[:, 1:2].float().clamp(-15.0, 15.0)
            metrics.append(("cover1s", ((pred - target).abs() < torch.exp(log_sigma)).float().mean()))
        for name, value in metrics:
            self.log(f"{stage}_{name}", value, on_step=False, on_epoch=True, prog_bar=name == "rmse",
                     batch_size=bs, sync_dist=True)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._shared_step(batch, "train")

    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._shared_step(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._shared_step(batch, "test")

    def configure_optimizers(self):
        hp = self.hparams
        decay, no_decay = [], []
        for name, param in self.model.named_parameters():
            (no_decay if param.ndim <= 1 else decay).append(param)  # no decay on biases and norms
        optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": hp.weight_decay},
                                       {"params": no_decay, "weight_decay": 0.0}], lr=hp.lr)
        if hp.schedule == "constant":
            return optimizer
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        if hp.schedule == "onecycle":
            scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=hp.lr, total_steps=total + 1)
        elif hp.schedule == "cosine":
            warmup = int(round(hp.warmup_fraction * total))
            floor = hp.final_lr_fraction

            def factor(step: int) -> float:
                if step < warmup:
                    return (step + 1) / (warmup + 1)
                progress = min((step - warmup) / max(total - warmup, 1), 1.0)
                return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

            scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        else:
            raise InputError(f"unknown schedule {hp.schedule!r}; choose cosine, onecycle or constant")
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


# ---- one training run ---------------------------------------------------------------------------


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write each checkpoint to a temporary file and rename it: a kill never leaves half a last.ckpt."""

    def save_checkpoint(self, checkpoint: dict, path: Any, storage_options: Any = None) -> None:
        atomic_write(path, lambda tmp: torch.save(checkpoint, tmp), make_parents=True, fixed_tmp=True)


#: Options a resumed run must keep (they define the model, the data or the optimisation state).
RESUME_FIXED = ("data", "init_from", "arch", "arch_kwargs", "inputs", "out_channels", "batch_size", "lr", "weight_decay",
                "schedule", "warmup_fraction", "final_lr_fraction", "loss", "normalisation", "seed", "augment",
                "fresh_noise", "noise_encoding", "stream", "freeze_batchnorm", "bn_calibration_batches")


def _prepare_run(config: TrainConfig, datamodule: Any) -> tuple[dict, dict]:
    """``(arch_kwargs, data info)`` of the run: from ``out/run.json`` on resume, else from the data."""
    out = Path(config.out)
    run_file = out / "run.json"
    if config.resume and run_file.exists():
        run = json.loads(run_file.read_text())
        before = run.get("train_config", {})
        now = config.model_dump(mode="json")
        fixed = list(RESUME_FIXED) + (["epochs"] if config.schedule == "onecycle" else [])
        changed = [k for k in fixed if k in before and before[k] != now[k]]
        if run.get("arch") != config.arch:
            changed.insert(0, "arch")
        if changed:
            detail = ", ".join(f"{k}: {before.get(k, run.get(k))!r} -> {now.get(k)!r}" for k in changed)
            raise InputError(f"{out}: cannot resume with different options ({detail}); resume with the "
                             "original options or choose a new --out")
        return run["arch_kwargs"], run["data"]
    info = jsonable(datamodule.info)
    if info.get("pixel_arcmin") is None:
        raise InputError("the data set does not say its pixel scale (attribute pixel_arcmin)")
    arch_kwargs = dict(config.arch_kwargs)
    if config.inputs is not None:
        arch_kwargs["inputs"] = list(config.inputs)
    arch_kwargs["out_channels"] = config.out_channels
    arch_kwargs.setdefault("noise_encoding", config.noise_encoding)
    arch_kwargs.update(info["normalisation"])
    if config.init_from is not None:
        # Fine-tuning keeps the scales the starting weights were trained with.
        from miu2net.nn.checkpoint import load_model

        arch_kwargs.update(load_model(config.init_from).model.normalisation)
    arch_kwargs.update(config.normalisation or {})
    create_model(config.arch, **_model_kwargs(arch_kwargs))  # fail now, not after loading data
    out.mkdir(parents=True, exist_ok=True)
    run = {"arch": config.arch, "arch_kwargs": arch_kwargs, "data": info,
           "train_config": config.model_dump(mode="json")}
    text = json.dumps(jsonable(run), indent=2) + "\n"  # every DDP rank writes the same content
    atomic_write(run_file, lambda tmp: Path(tmp).write_text(text))
    return arch_kwargs, info


def _first_conv(model: torch.nn.Module) -> str | None:
    """State-dict name of the network's first convolution's weight (the one that reads the inputs)."""
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Conv2d):
            return f"{name}.weight"
    return None


def initialise_from(model: torch.nn.Module, source: Any) -> dict:
    """Copy the weights of a trained model (``source``: path or name) into ``model`` (fine-tuning).

    Tensors of equal shape are copied. The first convolution of a network with more input channels than
    the source's (a new input appended, e.g. ``wiener``) gets the source's weights for the shared inputs
    and zero weights for the new ones, so it starts as the source. An output layer with more output channels than the source's (a
    side convolution or the fuse convolution of U²-Net, gaining the power-faithful channel 2) gets the
    source's channels, and channel 2 a copy of the κ channel 0 (for the fuse layer's input columns too),
    so both estimates start as the source's κ. Returns ``{"copied", "expanded", "skipped"}`` counts.
    """
    from miu2net.nn.checkpoint import load_model

    src = load_model(source).model.state_dict()
    dst = model.state_dict()
    counts = {"copied": 0, "expanded": 0, "skipped": 0}
    for name, value in dst.items():
        old = src.get(name)
        if old is None:
            counts["skipped"] += 1
            continue
        if old.shape == value.shape:
            dst[name] = old.clone()
            counts["copied"] += 1
            continue
        if old.ndim != value.ndim or old.shape[0] > value.shape[0] or old.shape[2:] != value.shape[2:]:
            counts["skipped"] += 1
            continue
        new = value.clone()
        n_old, n_new = old.shape[0], value.shape[0]
        if old.ndim == 4 and n_old == n_new and old.shape[1] < value.shape[1] and name == _first_conv(model):
            new.zero_()
            new[:, :old.shape[1]] = old
        elif old.ndim == 4 and old.shape[1] != value.shape[1]:
            # The fuse layer: input columns are (side, channel) pairs of the side outputs.
            c_old, c_new = n_old, n_new
            if old.shape[1] % c_old or value.shape[1] % c_new or old.shape[1] // c_old != value.shape[1] // c_new:
                counts["skipped"] += 1
                continue
            new.zero_()
            for side in range(old.shape[1] // c_old):
                a, b = side * c_old, side * c_new
                new[:c_old, b:b + c_old] = old[:, a:a + c_old]
                for co in range(c_old, c_new):
                    new[co, b + co] = old[0, a]
                    new[co, b + 1:b + c_old] = old[0, a + 1:a + c_old]
        else:
            new[:n_old] = old
            new[n_old:] = old[:1].expand(n_new - n_old, *old.shape[1:])
        dst[name] = new
        counts["expanded"] += 1
    model.load_state_dict(dst)
    return counts


@torch.no_grad()
def zero_kappa_outputs(model: torch.nn.Module) -> None:
    """Zero the κ rows (channels 0 and 2) of U²-Net's side convolutions, and the fused κ's weights on the
    sides' other channels and its bias, so that a residual network fine-tuned from a non-residual one
    starts exactly at the Wiener map (its correction 0) instead of adding the source's κ to it."""
    n = model.out_channels
    channels = [c for c in (0, 2) if c < n]
    for conv in getattr(model, "side_convs", []):
        conv.weight[channels] = 0.0
        conv.bias[channels] = 0.0
    fuse = getattr(model, "fuse", None)
    if fuse is not None:  # the fused κ must not draw on the side outputs' other channels (the spread)
        others = [col for col in range(fuse.weight.shape[1]) if col % n not in channels]
        for c in channels:
            fuse.weight[c, others] = 0.0
            fuse.bias[c] = 0.0


@torch.no_grad()
def calibrate_batchnorm(model: torch.nn.Module, batches: Any, n_batches: int) -> int:
    """Set every BatchNorm layer's running statistics to their exact average over ``n_batches`` batches
    (``(raw, kappa)`` pairs) of training data; returns the number of batches used."""
    layers = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in layers]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    was_training = model.training
    model.train()
    used = 0
    for raw, _ in batches:
        if used >= n_batches:
            break
        model.forward_all(raw)
        used += 1
    for m, momentum in zip(layers, momenta):
        m.momentum = momentum
    model.train(was_training)
    return used


def check_train_config(config: TrainConfig) -> None:
    """What the configuration layer cannot know: the architecture is registered (InputError naming
    the registered ones). Called by :func:`fit` and by ``miu2net train`` before any work."""
    if config.arch not in list_models():
        raise InputError(f"unknown arch {config.arch!r}; choose one of {', '.join(list_models())}")


def fit(config: TrainConfig, *, datamodule: Any = None, callbacks: list | None = None) -> dict:
    """Train (or resume) one run and export its best weights (module docstring).

    Args:
        config: the run (:class:`miu2net.config.TrainConfig`).
        datamodule: a :class:`miu2net.nn.data.MassMapDataModule` to use instead of ``config.data``.
        callbacks: extra Lightning callbacks.

    Returns:
        dict with ``model`` (path stem of the exported safetensors/JSON), ``metrics`` (validation of the
        exported weights), ``best_checkpoint``, ``epochs`` (completed) and ``global_step``.
    """
    from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint, RichProgressBar
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    from miu2net.nn.checkpoint import lightning_state_dict, save_model
    from miu2net.nn.data import MassMapDataModule

    check_train_config(config)
    out = Path(config.out)
    ckpt_dir = out / "checkpoints"
    last = ckpt_dir / "last.ckpt"
    if config.resume and not last.exists():
        raise InputError(f"--resume: no checkpoint to resume at {last}; drop --resume to start a new run")
    if not config.resume and last.exists():
        raise InputError(f"{out} already holds a run ({last}); pass --resume to continue it or choose a new --out")
    L.seed_everything(config.seed, workers=True, verbose=False)
    if torch.cuda.is_available():
        torch.set_float32_matmul_precision("high")
    pin = config.accelerator != "cpu" and torch.cuda.is_available()
    if datamodule is None and config.stream is not None:
        from miu2net.nn.streaming import StreamingDataModule

        datamodule = StreamingDataModule.from_train_config(config, pin_memory=pin)
    if datamodule is None:
        if config.data is None:
            raise InputError("no training data: give --data (a Zarr store or .npz)")
        datamodule = MassMapDataModule.from_path(
            config.data, batch_size=config.batch_size, num_workers=config.num_workers, augment=config.augment,
            fresh_noise=config.fresh_noise, pin_memory=pin)
    arch_kwargs, info = _prepare_run(config, datamodule)
    if "wiener" in tuple(arch_kwargs.get("inputs") or ()) and getattr(datamodule, "wiener_pixel_arcmin", None) is None:
        datamodule.wiener_pixel_arcmin = info["pixel_arcmin"]  # maps without their whole field's Wiener map
    module = MassMappingModule(
        config.arch, arch_kwargs, pixel_arcmin=info["pixel_arcmin"], map_size=info["map_size"],
        loss=config.loss.loss_kwargs(), lr=config.lr, weight_decay=config.weight_decay, schedule=config.schedule,
        warmup_fraction=config.warmup_fraction, final_lr_fraction=config.final_lr_fraction,
        freeze_batchnorm=config.freeze_batchnorm)
    if config.init_from is not None and not config.resume:
        counts = initialise_from(module.model, config.init_from)
        if counts["copied"] == 0 or counts["skipped"]:
            raise InputError(f"init_from {config.init_from}: {counts['skipped']} tensor(s) of this network have no "
                             f"counterpart of a compatible shape there ({counts['copied']} copied); fine-tune from a "
                             "model of the same architecture, widths and inputs")
        print(f"initialised from {config.init_from}: {counts['copied']} tensors copied, {counts['expanded']} "
              "expanded to the new input or output channels", flush=True)
        from miu2net.nn.checkpoint import load_model

        if module.model.residual and not getattr(load_model(config.init_from).model, "residual", False):
            zero_kappa_outputs(module.model)
            print("residual network: its κ outputs start at the Wiener map (correction zeroed)", flush=True)
    if config.bn_calibration_batches and not config.resume:
        datamodule.setup("fit")
        used = calibrate_batchnorm(module.model, datamodule.train_dataloader(), config.bn_calibration_batches)
        print(f"BatchNorm statistics averaged over {used} training batches", flush=True)
    checkpoint = ModelCheckpoint(dirpath=ckpt_dir, filename="best-{epoch:03d}", monitor="val_loss", mode="min",
                                 save_top_k=1)
    # Lightning's save_last writes last.ckpt only in epochs that also save a best checkpoint; resume needs
    # every epoch, so a second callback keeps the latest state as last.ckpt (overwritten each epoch).
    latest = ModelCheckpoint(dirpath=ckpt_dir, filename="last", monitor=None, save_top_k=1,
                             enable_version_counter=False)
    cbs: list = [checkpoint, latest, LearningRateMonitor(logging_interval="step")]
    if config.patience > 0:
        cbs.append(EarlyStopping(monitor="val_loss", mode="min", patience=config.patience))
    if config.progress_bar:
        cbs.append(RichProgressBar())
    cbs.extend(callbacks or [])
    loggers = [TensorBoardLogger(str(out), name="tensorboard"), CSVLogger(str(out), name="csv")]
    max_time = None if config.max_time_minutes is None else timedelta(minutes=config.max_time_minutes)
    trainer = L.Trainer(
        max_epochs=config.epochs, max_time=max_time, accelerator=config.accelerator, devices=config.devices,
        num_nodes=config.num_nodes, strategy=config.strategy, precision=config.precision, callbacks=cbs,
        logger=loggers, default_root_dir=str(out), log_every_n_steps=config.log_every_n_steps,
        enable_progress_bar=config.progress_bar, enable_model_summary=config.progress_bar,
        limit_train_batches=config.limit_train_batches, limit_val_batches=config.limit_val_batches,
        plugins=[AtomicCheckpointIO()],
        use_distributed_sampler=not getattr(datamodule, "own_samplers", False),
    )
    trainer.fit(module, datamodule=datamodule, ckpt_path=str(last) if config.resume else None, weights_only=True)
    best = checkpoint.best_model_path or str(last)
    state, _ = lightning_state_dict(best)
    module.model.load_state_dict(state)
    results = trainer.validate(module, datamodule=datamodule, verbose=False)
    metrics = {k: float(v) for k, v in (results[0] if results else {}).items()}
    metrics["best_epoch"] = _epoch_of(best)
    metrics["epochs_trained"] = int(trainer.current_epoch)
    stem = out / "model"
    if trainer.is_global_zero:
        save_model(module.model, stem, pixel_arcmin=info["pixel_arcmin"], map_size=info["map_size"],
                   noise_range=info.get("noise_range"), survey=info.get("survey"),
                   dataset_fingerprint=info.get("fingerprint"), metrics=metrics,
                   notes={"train_config": config.model_dump(mode="json"), "best_checkpoint": Path(best).name})
    return {"model": str(stem), "metrics": metrics, "best_checkpoint": best, "epochs": int(trainer.current_epoch),
            "global_step": int(trainer.global_step)}


def _epoch_of(checkpoint: str) -> int | None:
    try:
        return int(torch.load(checkpoint, map_location="cpu", weights_only=True).get("epoch"))
    except Exception:
        return None
