r"""The model card: the typed JSON that travels beside a trained network's weights.

A trained model is ``NAME.safetensors`` (weights) and ``NAME.json``, this card (format in
:mod:`miu2net.nn.checkpoint`). A card is untrusted input: :meth:`ModelCard.from_json` validates every
field (types and ranges) before the network layer allocates a single tensor, so a file with
``pixel_arcmin: "x"``, ``out_channels: 1000000`` or a map of 10⁶ pixels per side is refused with the
field and the allowed range, not with an allocation error. What the card says about the training data
(pixel scale, map size, noise range, the survey) is what :meth:`miu2net.nn.checkpoint.TrainedModel.check_input`
holds the user's data to.

Units: ``pixel_arcmin`` in arcmin; ``noise_range`` is the per-map median noise σ per shear component
seen in training; the normalisation constants are in the units of the maps they scale (shear, κ).
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from miu2net.config.base import FrozenModel, check_range, format_errors
from miu2net.config.survey import SurveyConfig
from miu2net.errors import InputError

#: The value of ``format`` in every card, and the newest format version this code reads.
FORMAT = "miu2net-model"
FORMAT_VERSION = 1
#: Input channels a network may read (:mod:`miu2net.nn.base` says what each holds).
INPUT_CHANNELS: tuple[str, ...] = ("g1", "g2", "mask", "noise", "ks", "wiener")
#: Largest output channels, map side and integer architecture option a card may ask for: beyond these
#: a file would make the loader allocate gigabytes (the network layer also counts the parameters on
#: the meta device before building, :data:`miu2net.nn.checkpoint.MAX_PARAMETERS`).
MAX_OUT_CHANNELS = 8
MAX_MAP_SIZE = 8192
MAX_ARCH_INT = 4096
NORMALISATION_KEYS = ("shear_scale", "noise_ref", "noise_clip", "kappa_scale")


def _finite_positive(name: str, value: float) -> float:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite positive number; got {value!r}")
    return float(value)


class StreamRanges(FrozenModel):
    """The ranges a streamed training drew each map's survey from (:class:`miu2net.config.train.StreamConfig`)."""

    n_gal_arcmin2: tuple[float, float]
    shape_noise_sigma: tuple[float, float]
    masked_fraction: tuple[float, float]
    views_per_truth: int = Field(1, ge=1)
    mixture: dict[str, float] | None = None
    outer_mask: tuple[float, float] | None = None
    outer_mask_probability: float = Field(0.0, ge=0, le=1)
    crop: int | None = Field(None, ge=8)
    crops_per_map: int = Field(1, ge=1)
    wiener: bool = False

    @model_validator(mode="after")
    def _check(self) -> StreamRanges:
        check_range("stream.n_gal_arcmin2", self.n_gal_arcmin2, 0.0, float("inf"), open_lo=True, open_hi=True)
        check_range("stream.shape_noise_sigma", self.shape_noise_sigma, 0.0, 1.0, open_lo=True, open_hi=True)
        check_range("stream.masked_fraction", self.masked_fraction, 0.0, 1.0, open_hi=True)
        return self


class TrainedSurvey(SurveyConfig):
    """The survey a model was trained for: a :class:`SurveyConfig`, plus the stream's ranges if streamed.

    Recorded, not judged again: the fields are typed and range-checked, but the survey-level rules
    meant for new fixed stores (e.g. that Poisson noise at a shallow depth leaves too many pixels
    empty, which a stream of many depths legitimately does) do not refuse a trained model.
    """

    stream: StreamRanges | None = None

    @model_validator(mode="after")
    def _check(self) -> TrainedSurvey:  # replaces SurveyConfig's rules (docstring)
        return self


class ModelCard(FrozenModel):
    """Every field of a model's JSON, typed and range-checked (module docstring)."""

    format: Literal["miu2net-model"]
    format_version: int = Field(ge=1)
    arch: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")
    arch_kwargs: dict[str, Any]
    inputs: tuple[str, ...] = Field(min_length=1, max_length=len(INPUT_CHANNELS))
    out_channels: int = Field(ge=1, le=MAX_OUT_CHANNELS)
    normalisation: dict[str, float]
    map_size: tuple[int, int]
    pixel_arcmin: float = Field(gt=0, le=60, allow_inf_nan=False)
    noise_range: tuple[float, float] | None = None
    survey: TrainedSurvey | None = None
    dataset_fingerprint: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    n_parameters: int | None = Field(None, ge=0)
    miu2net_version: str | None = None
    created: str | None = None
    notes: dict[str, Any] = Field(default_factory=dict)
    calibration: dict[str, Any] | None = None

    @field_validator("format_version")
    @classmethod
    def _readable_version(cls, value: int) -> int:
        if value > FORMAT_VERSION:
            raise ValueError(f"model format version {value} is newer than this miu2net understands "
                             f"({FORMAT_VERSION}); upgrade miu2net")
        return value

    @field_validator("inputs")
    @classmethod
    def _known_inputs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return check_input_channels(value)

    @field_validator("normalisation")
    @classmethod
    def _normalisation(cls, value: dict[str, float]) -> dict[str, float]:
        missing = [k for k in NORMALISATION_KEYS if k not in value]
        unknown = sorted(set(value) - set(NORMALISATION_KEYS))
        if missing or unknown:
            raise ValueError(f"normalisation needs exactly {list(NORMALISATION_KEYS)}; missing {missing}, "
                             f"unknown {unknown}")
        return {k: _finite_positive(f"normalisation.{k}", v) for k, v in value.items()}

    @field_validator("map_size")
    @classmethod
    def _map_size(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not all(8 <= v <= MAX_MAP_SIZE for v in value):
            raise ValueError(f"map_size sides must lie in [8, {MAX_MAP_SIZE}] pixels; got {list(value)}")
        return value

    @field_validator("noise_range")
    @classmethod
    def _noise_range(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None:
            lo, hi = (_finite_positive("noise_range", v) for v in value)
            if lo > hi:
                raise ValueError(f"noise_range must be [min, max] with min <= max; got {list(value)}")
        return value

    @model_validator(mode="after")
    def _arch_kwargs_agree(self) -> ModelCard:
        kwargs = self.arch_kwargs
        for key, value in kwargs.items():
            if isinstance(value, bool) or not isinstance(value, int):
                continue
            if not 0 <= value <= MAX_ARCH_INT:
                raise ValueError(f"arch_kwargs.{key} = {value} lies outside [0, {MAX_ARCH_INT}]")
        for key, value in kwargs.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"arch_kwargs.{key} = {value} is not finite")
        if "inputs" in kwargs and not isinstance(kwargs["inputs"], (list, tuple)):
            raise ValueError(f"arch_kwargs.inputs must be a list of channel names; got {kwargs['inputs']!r}")
        if "inputs" in kwargs and tuple(kwargs["inputs"]) != tuple(self.inputs):
            raise ValueError(f"arch_kwargs.inputs {kwargs['inputs']} differs from inputs {list(self.inputs)}")
        if "out_channels" in kwargs and kwargs["out_channels"] != self.out_channels:
            raise ValueError(f"arch_kwargs.out_channels {kwargs['out_channels']} differs from out_channels "
                             f"{self.out_channels}")
        for key in NORMALISATION_KEYS:
            if key in kwargs and kwargs[key] != self.normalisation[key]:
                raise ValueError(f"arch_kwargs.{key} {kwargs[key]} differs from normalisation.{key} "
                                 f"{self.normalisation[key]}")
        return self

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "model card") -> ModelCard:
        """The validated card of a parsed JSON mapping; InputError naming every bad field."""
        if not isinstance(data, dict):
            raise InputError(f"{source}: a model card is a JSON object; got {type(data).__name__}")
        if data.get("format") != FORMAT:
            raise InputError(f"{source}: not a miu2net model config (format {data.get('format')!r})")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(line.strip().removeprefix("(top level): ") for line in format_errors(exc).splitlines())
            raise InputError(f"{source}: invalid model card: {problems}") from None

    @classmethod
    def from_json(cls, text: str, *, source: str = "model card") -> ModelCard:
        """The validated card of a JSON text (module docstring)."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise InputError(f"{source}: not a readable JSON model config ({exc})") from None
        return cls.from_dict(data, source=source)


def check_input_channels(inputs: Any) -> tuple[str, ...]:
    """``inputs`` as a tuple of known, distinct channel names (:data:`INPUT_CHANNELS`); ValueError otherwise."""
    if isinstance(inputs, str):
        inputs = (inputs,)
    inputs = tuple(str(c) for c in inputs)
    unknown = [c for c in inputs if c not in INPUT_CHANNELS]
    if unknown or not inputs or len(set(inputs)) != len(inputs):
        raise ValueError(f"inputs must be distinct channel names from {', '.join(INPUT_CHANNELS)}; got {list(inputs)}")
    return inputs
