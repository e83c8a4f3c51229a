"""Training configuration: a pydantic model of everything ``miu2net train`` takes.

Impossible combinations (several nodes without a distributed strategy, a loss with nothing to
optimise...) raise a ``pydantic.ValidationError`` (a ``ValueError``) at construction. Which
architectures and input channels exist is the network layer's knowledge: the configuration only
normalises the name (``u2net-small`` -> ``u2net_small``), and :func:`miu2net.nn.module.check_train_config`
checks both against the registry before any work starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from miu2net.config.base import FrozenModel, check_range
from miu2net.config.model_card import check_input_channels


class LossConfig(FrozenModel):
    """The loss of :class:`miu2net.nn.losses.MassMappingLoss` (see there for the formula).

    ``side_weight`` weighs each of U²-Net's six side outputs against the fused output (weight 1).
    ``ell_max`` is the spectral cut-off in inverse radians (None: up to the Nyquist mode).
    ``spread`` (``none`` or ``gaussian_nll``) trains the second output channel as the log-spread of κ
    with weight ``spread_weight``; ``spread_detach_mean`` keeps that term from moving κ itself.
    ``two_estimates`` trains channel 0 by the spatial term alone (the minimum-RMSE map) and a third
    channel by the spatial plus the spectral term (the power-faithful map); needs ``out_channels=3``.
    """

    spatial: Literal["mse", "huber"] = "mse"
    huber_delta: float = Field(1.0, gt=0)
    spatial_weight: float = Field(1.0, ge=0)
    freq_weight: float = Field(0.1, ge=0)
    ell_max: float | None = Field(None, gt=0)
    n_bins: int = Field(20, ge=2)
    relative: bool = False
    side_weight: float = Field(1.0, ge=0)
    spread: Literal["none", "gaussian_nll"] = "none"
    spread_weight: float = Field(1.0, ge=0)
    spread_detach_mean: bool = True
    two_estimates: bool = False

    @model_validator(mode="after")
    def _check(self) -> LossConfig:
        if self.spatial_weight == 0 and self.freq_weight == 0:
            raise ValueError("loss.spatial_weight and loss.freq_weight are both 0: nothing to optimise")
        return self

    def loss_kwargs(self, n_outputs: int = 7) -> dict:
        """Keyword arguments of MassMappingLoss (without pixel_arcmin)."""
        return {"spatial": self.spatial, "huber_delta": self.huber_delta, "spatial_weight": self.spatial_weight,
                "freq_weight": self.freq_weight, "ell_max": self.ell_max, "n_bins": self.n_bins,
                "relative": self.relative, "output_weights": [1.0] + [self.side_weight] * (n_outputs - 1),
                "spread": self.spread, "spread_weight": self.spread_weight,
                "spread_detach_mean": self.spread_detach_mean, "power_channel": 2 if self.two_estimates else None}


#: The skies a training stream can mix (``stream.mixture``; :mod:`miu2net.sims.stream`).
TRUTH_KINDS: tuple[str, ...] = ("nbody", "halo_model", "gaussian")


class StreamConfig(FrozenModel):
    r"""Training on samples simulated on the fly (:mod:`miu2net.sims.stream`), one fresh map per step.

    Each sample draws its survey depth :math:`n_{\rm gal}` log-uniformly in ``n_gal_arcmin2``
    (galaxies per arcmin²), its total intrinsic ellipticity rms :math:`\sigma_e` uniformly in
    ``shape_noise_sigma``, and its masked fraction uniformly in ``masked_fraction`` (the survey mask of
    :func:`miu2net.physics.masks.survey_mask`; 0 to 0.35 by default); galaxy counts per pixel are Poisson
    and empty pixels are masked on top. The truth (field, halos, box) follows ``sim_config`` (a YAML/TOML
    file of ``survey``/``sim`` sections, :func:`miu2net.config.load_config`), by default the
    configuration of the ``--data`` store whose ``val`` split validates the run.

    Attributes:
        n_gal_arcmin2: [min, max] source density, per arcmin² (default 5-100).
        shape_noise_sigma: [min, max] total intrinsic ellipticity rms (default 0.26-0.40).
        masked_fraction: [min, max] target masked fraction of the survey mask (default 0-0.35).
        steps_per_epoch: optimiser steps per epoch (each a batch of fresh maps per device).
        views_per_truth: samples drawn from each simulated truth box (random shift and symmetry, own
            depth, mask and noise; :mod:`miu2net.sims.stream`); 1: a new box per sample.
        sim_config: survey + simulation configuration file (None: the store's).
        mixture: weights of the truth kinds ``nbody``, ``halo_model``, ``gaussian`` (None: the
            configuration's truth alone; :mod:`miu2net.sims.stream`).
        outer_mask: [min, max] observed fraction of a rectangular outer footprint (None: off), drawn
            for a fraction ``outer_mask_probability`` of the samples: training for small fields embedded
            in the model's.
        crop: train on random ``crop``² windows of each simulated map (None: the whole map): the map is
            the survey's field (e.g. 256² at 0.41′), the crop the network's tile, so that the Wiener
            input of a network with the ``wiener`` channel is that of the whole field, as at inference.
        crops_per_map: windows cut from each simulated map (consecutive samples; with ``crop``).
    """

    n_gal_arcmin2: tuple[float, float] = (5.0, 100.0)
    shape_noise_sigma: tuple[float, float] = (0.26, 0.40)
    masked_fraction: tuple[float, float] = (0.0, 0.35)
    steps_per_epoch: int = Field(500, ge=1)
    views_per_truth: int = Field(1, ge=1)
    sim_config: Path | None = None
    mixture: dict[str, float] | None = None
    outer_mask: tuple[float, float] | None = None
    outer_mask_probability: float = Field(0.0, ge=0, le=1)
    crop: int | None = Field(None, ge=8)
    crops_per_map: int = Field(1, ge=1, le=64)

    @model_validator(mode="after")
    def _check(self) -> StreamConfig:
        check_range("stream.n_gal_arcmin2", self.n_gal_arcmin2, 0.0, float("inf"), open_lo=True)
        check_range("stream.shape_noise_sigma", self.shape_noise_sigma, 0.0, 1.0, open_lo=True, open_hi=True)
        check_range("stream.masked_fraction", self.masked_fraction, 0.0, 1.0, open_hi=True)
        if self.outer_mask is not None:
            check_range("stream.outer_mask", self.outer_mask, 0.0, 1.0, open_lo=True)
        if self.mixture is not None:
            kinds = TRUTH_KINDS
            if set(self.mixture) - set(kinds) or any(w < 0 for w in self.mixture.values()) \
                    or sum(self.mixture.values()) <= 0:
                raise ValueError(f"stream.mixture takes non-negative weights of {', '.join(kinds)} (not all 0); "
                                 f"got {self.mixture}")
        return self


class TrainConfig(FrozenModel):
    """One training run.

    Attributes (units and defaults):
        data: Zarr store of ``miu2net simulate`` or ``.npz`` of stacked maps (None when a data module
            is passed programmatically).
        out: run folder: checkpoints/, tensorboard/, csv/, run.json, and the exported model.safetensors/.json.
        arch: registered architecture (``u2net_small``, ``u2net_full``, ``deepmass``; ``-`` or ``_``).
        arch_kwargs: extra architecture options (e.g. ``{"mid": 8, "width": 32}`` for u2net_small).
        inputs: input channels (None: the architecture's default).
        out_channels: 1, or 2 for a per-pixel spread (needs ``loss.spread``, and the reverse), or 3 for
            two estimates (needs ``loss.two_estimates`` too).
        epochs, batch_size (per device), lr (peak), weight_decay (AdamW).
        schedule: ``cosine`` (linear warm-up over ``warmup_fraction`` of the steps, then cosine to
            ``lr * final_lr_fraction``), ``onecycle`` or ``constant``.
        accelerator, devices, num_nodes, strategy, precision: Lightning Trainer flags.
        num_workers: DataLoader workers; seed: global seed.
        patience: early-stopping patience in epochs on ``val_loss`` (0: off).
        augment: D4 symmetries; fresh_noise: new noise realisations each epoch.
        loss: :class:`LossConfig`.
        normalisation: override of the input normalisation estimated from the training set.
        noise_encoding: how the noise channel reads sigma: ``log`` (default; one network for every
            depth) or ``inverse`` (see :mod:`miu2net.nn.base`).
        stream: :class:`StreamConfig` to train on freshly simulated maps (``data`` then only validates);
            None trains on the ``data`` store's train split.
        resume: continue from ``out/checkpoints/last.ckpt``.
        progress_bar: rich progress bar; log_every_n_steps.
        limit_train_batches, limit_val_batches: Lightning limits (for smoke runs).
        max_time_minutes: stop training after this wall-clock time (Lightning ``max_time``; the best
            weights so far are exported as usual); None: no limit.
        init_from: a trained model (``NAME.safetensors`` + ``NAME.json``) whose weights start a new run
            (fine-tuning): every tensor of matching shape is copied; output layers with more channels get
            the old channels and the power-faithful channel 2 a copy of κ's channel 0.
        freeze_batchnorm: keep every BatchNorm layer in evaluation mode while training (its running
            statistics fixed, its affine weights trained), so that the network computes in training
            exactly what it computes at inference. Fine-tuning on a mixture of skies, depths and
            footprints with batches of 16, a network left free came to rely on each batch's own
            statistics: its inference-mode error rose to 2.8 times its training-mode error.
        bn_calibration_batches: before training (not on resume), set the BatchNorm statistics to their
            exact averages over this many training batches (0: keep the initial ones); with
            ``freeze_batchnorm``, the statistics of the new data that then stay fixed.
    """

    data: Path | None = None
    out: Path
    arch: str = "u2net_small"
    arch_kwargs: dict = Field(default_factory=dict)
    inputs: tuple[str, ...] | None = None
    out_channels: int = Field(1, ge=1)
    epochs: int = Field(50, ge=1)
    batch_size: int = Field(16, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    schedule: Literal["cosine", "onecycle", "constant"] = "cosine"
    warmup_fraction: float = Field(0.05, ge=0, lt=1)
    final_lr_fraction: float = Field(1e-3, ge=0, le=1)
    accelerator: str = "auto"
    devices: int | str = "auto"
    num_nodes: int = Field(1, ge=1)
    strategy: str = "auto"
    precision: Literal["32", "32-true", "bf16-mixed", "16-mixed", "64", "64-true"] = "32"
    num_workers: int = Field(0, ge=0)
    seed: int = 0
    patience: int = Field(10, ge=0)
    augment: bool = True
    fresh_noise: bool = False
    loss: LossConfig = Field(default_factory=LossConfig)
    normalisation: dict[str, float] | None = None
    noise_encoding: Literal["log", "inverse"] = "log"
    stream: StreamConfig | None = None
    resume: bool = False
    progress_bar: bool = True
    log_every_n_steps: int = Field(10, ge=1)
    limit_train_batches: int | float = 1.0
    limit_val_batches: int | float = 1.0
    max_time_minutes: float | None = Field(None, gt=0)
    init_from: Path | None = None
    freeze_batchnorm: bool = False
    bn_calibration_batches: int = Field(0, ge=0)

    @field_validator("arch")
    @classmethod
    def _arch_name(cls, value: str) -> str:
        name = value.strip().lower().replace("-", "_")
        if not name:
            raise ValueError("arch must name an architecture (e.g. u2net_small)")
        return name

    @field_validator("inputs")
    @classmethod
    def _known_inputs(cls, value):
        return None if value is None else check_input_channels(value)

    @field_validator("devices", mode="before")
    @classmethod
    def _devices(cls, value):
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        return value

    @field_validator("normalisation")
    @classmethod
    def _normalisation(cls, value):
        if value is None:
            return value
        allowed = {"shear_scale", "noise_ref", "noise_clip", "kappa_scale"}
        unknown = set(value) - allowed
        if unknown or any(v <= 0 for v in value.values()):
            raise ValueError(f"normalisation takes positive values for {sorted(allowed)}; got {value}")
        return value

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if self.num_nodes > 1 and self.strategy in ("auto", "single_device"):
            raise ValueError("num_nodes > 1 needs a distributed strategy: add --strategy ddp")
        if self.loss.spread != "none" and self.out_channels < 2:
            raise ValueError(f"loss.spread={self.loss.spread!r} trains a second output channel: set out_channels=2 "
                             "(--out-channels 2)")
        if self.loss.two_estimates != (self.out_channels == 3):
            raise ValueError("loss.two_estimates trains a third output channel (the power-faithful map): use it with "
                             f"out_channels=3, and out_channels=3 with it; got out_channels={self.out_channels}, "
                             f"two_estimates={self.loss.two_estimates}")
        if self.out_channels >= 2 and self.loss.spread == "none":
            raise ValueError("out_channels >= 2 leaves the spread channel untrained: set loss.spread='gaussian_nll' "
                             "(--spread-loss gaussian_nll) or out_channels=1")
        if self.stream is not None and self.stream.sim_config is None and self.data is None:
            raise ValueError("stream needs a simulation configuration: give --data (a Zarr store, whose "
                             "configuration and val split are used) or stream.sim_config")
        return self
