"""Training configuration: a pydantic model of everything ``miu2net train`` takes (to merge into
:mod:`miu2net.config` beside SurveyConfig and SimConfig).

Impossible combinations (an unknown architecture, several nodes without a distributed strategy, a
loss with nothing to optimise...) raise a ``pydantic.ValidationError`` (a ``ValueError``) at construction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LossConfig(_Model):
    """The loss of :class:`miu2net.nn.losses.MassMappingLoss` (see there for the formula).

    ``side_weight`` weighs each of U²-Net's six side outputs against the fused output (weight 1).
    ``ell_max`` is the spectral cut-off in inverse radians (None: up to the Nyquist mode).
    """

    spatial: Literal["mse", "huber"] = "mse"
    huber_delta: float = Field(1.0, gt=0)
    spatial_weight: float = Field(1.0, ge=0)
    freq_weight: float = Field(0.1, ge=0)
    ell_max: float | None = Field(None, gt=0)
    n_bins: int = Field(20, ge=2)
    relative: bool = False
    side_weight: float = Field(1.0, ge=0)

    @model_validator(mode="after")
    def _check(self) -> LossConfig:
        if self.spatial_weight == 0 and self.freq_weight == 0:
            raise ValueError("loss.spatial_weight and loss.freq_weight are both 0: nothing to optimise")
        return self

    def loss_kwargs(self, n_outputs: int = 7) -> dict:
        """Keyword arguments of MassMappingLoss (without pixel_arcmin)."""
        return {"spatial": self.spatial, "huber_delta": self.huber_delta, "spatial_weight": self.spatial_weight,
                "freq_weight": self.freq_weight, "ell_max": self.ell_max, "n_bins": self.n_bins,
                "relative": self.relative, "output_weights": [1.0] + [self.side_weight] * (n_outputs - 1)}


class TrainConfig(_Model):
    """One training run.

    Attributes (units and defaults):
        data: Zarr store of ``miu2net simulate`` or ``.npz`` of stacked maps (None when a data module
            is passed programmatically).
        out: run folder: checkpoints/, tensorboard/, csv/, run.json, and the exported model.safetensors/.json.
        arch: registered architecture (``u2net_small``, ``u2net_full``, ``deepmass``; ``-`` or ``_``).
        arch_kwargs: extra architecture options (e.g. ``{"mid": 8, "width": 32}`` for u2net_small).
        inputs: input channels (None: the architecture's default).
        out_channels: 1, or 2 to leave a channel for a per-pixel spread.
        epochs, batch_size (per device), lr (peak), weight_decay (AdamW).
        schedule: ``cosine`` (linear warm-up over ``warmup_fraction`` of the steps, then cosine to
            ``lr * final_lr_fraction``), ``onecycle`` or ``constant``.
        accelerator, devices, num_nodes, strategy, precision: Lightning Trainer flags.
        num_workers: DataLoader workers; seed: global seed.
        patience: early-stopping patience in epochs on ``val_loss`` (0: off).
        augment: D4 symmetries; fresh_noise: new noise realisations each epoch.
        loss: :class:`LossConfig`.
        normalisation: override of the input normalisation estimated from the training set.
        resume: continue from ``out/checkpoints/last.ckpt``.
        progress_bar: rich progress bar; log_every_n_steps.
        limit_train_batches, limit_val_batches: Lightning limits (for smoke runs).
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
    resume: bool = False
    progress_bar: bool = True
    log_every_n_steps: int = Field(10, ge=1)
    limit_train_batches: int | float = 1.0
    limit_val_batches: int | float = 1.0

    @field_validator("arch")
    @classmethod
    def _known_arch(cls, value: str) -> str:
        from miu2net.nn.registry import canonical_name, list_models

        name = canonical_name(value)
        if name not in list_models():
            raise ValueError(f"unknown arch {value!r}; choose one of {', '.join(list_models())}")
        return name

    @field_validator("inputs")
    @classmethod
    def _known_inputs(cls, value):
        if value is None:
            return value
        from miu2net.nn.base import check_inputs

        try:
            return check_inputs(value)
        except Exception as exc:
            raise ValueError(str(exc)) from None

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
        return self
