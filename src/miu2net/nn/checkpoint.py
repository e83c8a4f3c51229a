"""Trained models on disk: weights as safetensors, everything else as JSON beside them. Never pickle.

A model ``NAME`` is two files, ``NAME.safetensors`` (the state dict; the JSON config is repeated in its
metadata) and ``NAME.json``::

    {"format": "miu2net-model", "format_version": 1,
     "arch": "u2net_small", "arch_kwargs": {...},          # create_model(arch, **arch_kwargs) rebuilds it
     "inputs": [...], "out_channels": 1,
     "normalisation": {"shear_scale", "noise_ref", "noise_clip", "kappa_scale"},
     "map_size": [ny, nx], "pixel_arcmin": 0.82,           # what it was trained on
     "noise_range": [lo, hi],                              # per-map median noise σ seen in training
     "survey": {...} | null, "dataset_fingerprint": "...", "metrics": {...},
     "n_parameters": ..., "miu2net_version": "...", "created": "...", "notes": {...},
     "calibration": {...}}                                 # optional, added by `miu2net calibrate`

``arch_kwargs`` holds ``noise_encoding`` for models saved since that option exists; a file without it
rebuilds with the class default (``"inverse"``), i.e. exactly as it was trained. ``calibration`` (split
conformal intervals and the CHI2DOF range, :mod:`miu2net.nn.calibration`) is an optional key that
:func:`miu2net.nn.calibration.save_calibration` adds to an existing model's JSON without touching the
weights; files without it load as uncalibrated models (:attr:`TrainedModel.calibration` is None), and
older miu2net versions ignore it.

Loading (:func:`load_model`) reads only these two formats: a ``.pt``/``.pth``/``.ckpt``/``.pkl`` path
is refused with :class:`miu2net.errors.InputError` (a pickle can run code when loaded); a Lightning
checkpoint of one's own run is converted with :func:`export_lightning_checkpoint`, which reads it with
``torch.load(weights_only=True)``. A model name without a path resolves to the package's
``miu2net/models/NAME.safetensors`` + ``NAME.json``. A model file is untrusted input: before any
tensor is allocated the JSON is validated as a typed :class:`miu2net.config.ModelCard` (every field,
ranges included) and the network it describes is built on the meta device to count its parameters
(at most :data:`MAX_PARAMETERS`); weights holding NaN or infinite values are refused. :func:`save_model`
never writes a card that loading would refuse. A loaded model is cached per process (keyed by the
files' paths and modification times), so a reconstruction reads its weights once.

Input checks (:meth:`TrainedModel.check_input`): a model refuses, with InputError, shear whose pixel
scale differs from its training pixel by more than 0.1 %, a map smaller than its training size (larger
maps are reconstructed in tiles), a map without a noise map when the model takes the noise channel,
or a median noise σ outside its training range widened by a factor 1.25 either way, unless
``allow_mismatch=True`` (then the problems are returned as notes for the output's provenance).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from miu2net import __version__
from miu2net.config.model_card import FORMAT, FORMAT_VERSION, ModelCard
from miu2net.errors import InputError
from miu2net.io.files import atomic_write
from miu2net.nn.base import MassMapNet
from miu2net.nn.registry import count_parameters, create_model

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".bin", ".tar")
PIXEL_RTOL = 1e-3
#: Largest network a model file may describe (u2net_full has 44 M parameters).
MAX_PARAMETERS = 200_000_000
NOISE_FACTOR = 1.25


def jsonable(value: Any) -> Any:
    """Plain JSON types from NumPy scalars, tensors, paths and nested containers."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value)
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, Path):
        return str(value)
    return value


def model_stem(path: str | Path) -> Path:
    path = Path(path)
    return path.with_suffix("") if path.suffix.lower() in (".safetensors", ".json") else path


def save_model(
    model: MassMapNet,
    path: str | Path,
    *,
    pixel_arcmin: float,
    map_size: tuple[int, int] | list[int],
    noise_range: tuple[float, float] | list[float] | None = None,
    survey: dict | None = None,
    dataset_fingerprint: str | None = None,
    metrics: dict | None = None,
    notes: dict | None = None,
    calibration: dict | None = None,
) -> tuple[Path, Path]:
    """Write ``PATH.safetensors`` and ``PATH.json`` (module docstring); returns both paths.

    ``calibration`` (a :meth:`miu2net.nn.calibration.Calibration.to_dict`) is stored when given.

    ``model`` must come from :func:`miu2net.nn.registry.create_model` (it knows its ``arch``).
    Files are written to temporary names and renamed, so a crash never leaves half a model.
    """
    from safetensors.torch import save_file

    if not getattr(model, "arch", None):
        raise InputError("the model has no registered architecture name; build it with create_model()")
    stem = model_stem(path)
    config = jsonable({
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "arch": model.arch,
        "arch_kwargs": {**model.arch_kwargs, "inputs": list(model.inputs), "out_channels": model.out_channels,
                        **model.normalisation, "noise_encoding": model.noise_encoding},
        "inputs": list(model.inputs),
        "out_channels": model.out_channels,
        "normalisation": model.normalisation,
        "map_size": [int(map_size[0]), int(map_size[1])],
        "pixel_arcmin": float(pixel_arcmin),
        "noise_range": None if noise_range is None else [float(noise_range[0]), float(noise_range[1])],
        "survey": survey,
        "dataset_fingerprint": dataset_fingerprint,
        "metrics": metrics or {},
        "n_parameters": count_parameters(model),
        "miu2net_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "notes": notes or {},
    })
    if calibration is not None:
        config["calibration"] = jsonable(calibration)
    ModelCard.from_dict(config, source=f"{stem}.json")  # never write a card that loading would refuse
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    weights, meta = stem.with_suffix(".safetensors"), stem.with_suffix(".json")
    had_weights = weights.exists()
    atomic_write(weights, lambda tmp: save_file(state, tmp, metadata={"format": FORMAT, "config": json.dumps(config)}),
                 make_parents=True)
    try:
        atomic_write(meta, lambda tmp: Path(tmp).write_text(json.dumps(config, indent=2) + "\n"), make_parents=True)
    except BaseException:  # interrupted between the two files: no new weights without their JSON
        if not had_weights:
            weights.unlink(missing_ok=True)
        raise
    return weights, meta


def _refuse_pickle(path: Path) -> None:
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise InputError(
            f"{path}: refusing to load a pickled PyTorch/Lightning file (loading a pickle can run arbitrary "
            "code). miu2net models are NAME.safetensors + NAME.json; convert a checkpoint of your own run "
            "with miu2net.nn.checkpoint.export_lightning_checkpoint()."
        )


def resolve_model(model: str | Path, *, models_dir: Path = MODELS_DIR) -> tuple[Path, Path]:
    """``(weights, config)`` paths of a model given as a path (with or without suffix) or a shipped name."""
    path = Path(model)
    _refuse_pickle(path)
    candidates = [model_stem(path)]
    if path.parent == Path(".") and not path.suffix:
        candidates.append(models_dir / path.name)
    for stem in candidates:
        weights, meta = stem.with_suffix(".safetensors"), stem.with_suffix(".json")
        if weights.exists() and meta.exists():
            return weights, meta
        if weights.exists() != meta.exists():
            have, lack = (weights, meta) if weights.exists() else (meta, weights)
            raise InputError(f"{have} exists but {lack} does not; a model needs both files")
    shipped = ", ".join(m["name"] for m in list_models_on_disk(models_dir)) or "none shipped"
    raise InputError(f"no model {str(model)!r} (looked for {model_stem(path)}.safetensors/.json and "
                     f"{models_dir / path.name}.*); available models: {shipped}. "
                     "Train one with `miu2net train`.")


@dataclass
class TrainedModel:
    """A loaded network with its JSON config; :meth:`check_input` guards what it is applied to."""

    model: MassMapNet
    config: dict
    path: Path | None = None
    name: str = ""
    extra: dict = field(default_factory=dict)
    card: ModelCard | None = None

    @property
    def map_size(self) -> tuple[int, int]:
        return tuple(int(v) for v in self.config["map_size"])

    @property
    def pixel_arcmin(self) -> float:
        return float(self.config["pixel_arcmin"])

    @property
    def noise_range(self) -> tuple[float, float] | None:
        rng = self.config.get("noise_range")
        return None if rng is None else (float(rng[0]), float(rng[1]))

    @cached_property
    def calibration(self):
        """The model's :class:`miu2net.nn.calibration.Calibration`, or None for an uncalibrated model."""
        data = self.config.get("calibration")
        if not data:
            return None
        from miu2net.nn.conformal import Calibration

        return Calibration.from_dict(data)

    @property
    def embed_fraction(self) -> float | None:
        """The smallest observed fraction of its field the model was trained for with outer masks (a
        smaller footprint embedded in the field, the outside masked; :mod:`miu2net.sims.stream`), or None
        when it was not trained for embedded fields."""
        stream = (self.config.get("survey") or {}).get("stream") or {}
        if stream.get("outer_mask") and float(stream.get("outer_mask_probability") or 0) > 0:
            return float(stream["outer_mask"][0])
        return None

    @property
    def min_embedded_side(self) -> int | None:
        """The shortest side (pixels) of a map this model embeds: :math:`\\sqrt{f/2}` of its field's for
        the smallest trained fraction f (the thinnest trained footprint, aspect ratio 2); None when it
        does not embed."""
        embed = self.embed_fraction
        return None if embed is None else int(np.ceil(np.sqrt(embed / 2.0) * min(self.map_size) - 1e-9))

    @property
    def has_power_map(self) -> bool:
        """Whether the network gives the power-faithful map as output channel 2 (:mod:`miu2net.nn.base`)."""
        loss = ((self.config.get("notes") or {}).get("train_config") or {}).get("loss") or {}
        return int(self.config.get("out_channels") or 1) >= 3 and bool(loss.get("two_estimates", False))

    def check_input(self, shear: Any, *, allow_mismatch: bool = False) -> list[str]:
        """Problems with applying this model to ``shear`` (a ShearMap); InputError unless allowed.

        Returns the problems (empty when none) so a caller can record them when ``allow_mismatch``.
        """
        problems = []
        pix = float(shear.pixel_arcmin)
        if abs(pix / self.pixel_arcmin - 1.0) > PIXEL_RTOL:
            problems.append(f"pixel scale {pix:.4g} arcmin, but the model was trained on {self.pixel_arcmin:.4g} arcmin pixels")
        ny, nx = shear.shape
        ty, tx = self.map_size
        embed = self.embed_fraction
        if (ny < ty or nx < tx) and embed is None:
            problems.append(f"map of {ny}x{nx} pixels is smaller than the model's training size {ty}x{tx} "
                            "(larger maps are tiled; smaller ones would be zero-padded)")
        elif ny < ty or nx < tx:
            fraction = min(ny, ty) * min(nx, tx) / (ty * tx)
            if fraction < embed * (1.0 - 1e-9) or min(ny, nx) < self.min_embedded_side:
                problems.append(f"map of {ny}x{nx} pixels covers {fraction:.0%} of the model's {ty}x{tx} field; "
                                f"it was trained for embedded footprints of at least {embed:.0%} (and at least "
                                f"{self.min_embedded_side} pixels per side)")
        observed = np.asarray(shear.mask) > 0
        if shear.noise is None:
            if "noise" in self.model.inputs:
                problems.append("no noise map (NOISE), but the model takes the per-pixel noise σ as an input")
        elif self.noise_range is not None:
            sigma = np.asarray(shear.noise)[observed]
            sigma = sigma[np.isfinite(sigma) & (sigma > 0)]
            if sigma.size:
                level = float(np.median(sigma))
                lo, hi = self.noise_range
                if not lo / NOISE_FACTOR <= level <= hi * NOISE_FACTOR:
                    problems.append(f"median noise σ = {level:.4g} per component lies outside the range the model "
                                    f"was trained for ({lo:.4g} to {hi:.4g}, within a factor {NOISE_FACTOR})")
        if problems and not allow_mismatch:
            raise InputError(f"model {self.name or self.path}: " + "; ".join(problems)
                             + ". Pass allow_mismatch=True (--option allow_mismatch=true) to run it anyway.")
        return problems


def _check_config(config: dict, source: str) -> ModelCard:
    """The validated model card of a parsed JSON config (:class:`miu2net.config.ModelCard`): every
    field typed and range-checked, InputError naming each bad one."""
    return ModelCard.from_dict(config, source=source)


def _check_size(config: dict, source: str) -> None:
    """Build the described network on the meta device (no memory) and refuse one larger than
    :data:`MAX_PARAMETERS`, or one whose options the architecture refuses, before any weights load."""
    try:
        with torch.device("meta"):
            n = count_parameters(build_from_config(config))
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InputError(f"{source}: arch_kwargs do not build a {config['arch']!r} network ({exc})") from None
    if n > MAX_PARAMETERS:
        raise InputError(f"{source}: the network would have {n:,} parameters, more than the {MAX_PARAMETERS:,} "
                         "any miu2net model has; refusing to allocate it")


def build_from_config(config: dict) -> MassMapNet:
    """The (untrained) network a model config describes."""
    kwargs = dict(config["arch_kwargs"])
    if "inputs" in kwargs:
        kwargs["inputs"] = tuple(kwargs["inputs"])
    return create_model(config["arch"], **kwargs)


def load_model(model: str | Path, *, models_dir: Path = MODELS_DIR) -> TrainedModel:
    """Load a model (path or shipped name) on the CPU, in eval mode. Never unpickles (module docstring)."""
    weights, meta = resolve_model(model, models_dir=models_dir)
    stat = (weights.stat().st_mtime_ns, meta.stat().st_mtime_ns)
    return _load_cached(str(weights.resolve()), str(meta.resolve()), stat)


def clear_model_cache() -> None:
    """Forget the models loaded in this process (the next :func:`load_model` reads the files again)."""
    _load_cached.cache_clear()


@lru_cache(maxsize=4)
def _load_cached(weights: str, meta: str, stat: tuple) -> TrainedModel:
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        config = json.loads(Path(meta).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InputError(f"{meta}: not a readable JSON model config ({exc})") from None
    card = _check_config(config, meta)
    if Path(meta).parent != MODELS_DIR.resolve():  # a user's file; the shipped ones are the package's own
        _check_size(config, meta)  # on the meta device: nothing allocated yet
    try:
        with safe_open(weights, framework="pt") as f:
            header = f.metadata() or {}
        state = load_file(weights, device="cpu")
    except Exception as exc:
        raise InputError(f"{weights}: not a readable safetensors file ({exc})") from None
    if header.get("config"):
        try:
            inner = json.loads(header["config"])
        except json.JSONDecodeError:
            inner = {}
        if inner.get("arch") != config["arch"] or inner.get("arch_kwargs") != config["arch_kwargs"]:
            raise InputError(f"{weights} and {meta} describe different networks; keep the pair together")
    floats = [v.reshape(-1) for v in state.values() if v.is_floating_point()]
    bad = [] if not floats or bool(torch.isfinite(torch.cat(floats)).all()) else [
        k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise InputError(f"{weights}: {len(bad)} weight tensor(s) hold NaN or infinite values (e.g. {bad[0]!r}); "
                         "the file is corrupted or the training diverged")
    try:
        net = build_from_config(config)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InputError(f"{meta}: arch_kwargs do not build a {config['arch']!r} network ({exc})") from None
    expected = net.state_dict()
    wrong = [f"{k} is {list(v.shape)} in the file but {list(expected[k].shape)} in the network the JSON describes"
             for k, v in state.items() if k in expected and tuple(v.shape) != tuple(expected[k].shape)]
    if wrong:
        raise InputError(f"{weights}: {len(wrong)} tensor shape(s) do not match {meta} (e.g. {wrong[0]}); the "
                         "weights and the config belong to different networks: keep the pair together")
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise InputError(f"{weights}: weights do not fit architecture {config['arch']!r} "
                         f"(missing {list(missing)[:5]}, unexpected {list(unexpected)[:5]})")
    net.eval()
    weights_path = Path(weights)
    shipped = weights_path.parent == MODELS_DIR.resolve()
    name = weights_path.stem if shipped else str(weights_path.with_suffix(""))
    trained = TrainedModel(model=net, config=config, path=weights_path, name=name, card=card)
    try:
        trained.calibration  # parsed now, so a damaged calibration section is refused here
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise InputError(f"{meta}: the calibration section is damaged ({type(exc).__name__}: {exc}); "
                         "recalibrate the model with `miu2net calibrate`") from None
    return trained


def list_models_on_disk(directory: Path = MODELS_DIR) -> list[dict]:
    """Summaries of the models (``*.json`` with a ``*.safetensors`` beside) in ``directory``."""
    out = []
    directory = Path(directory)
    if not directory.is_dir():
        return out
    for meta in sorted(directory.glob("*.json")):
        if not meta.with_suffix(".safetensors").exists():
            continue
        try:
            config = json.loads(meta.read_text())
            _check_config(config, str(meta))
        except (InputError, OSError, json.JSONDecodeError):
            continue
        out.append({"name": meta.stem, "arch": config["arch"], "map_size": config["map_size"],
                    "pixel_arcmin": config["pixel_arcmin"], "noise_range": config.get("noise_range"),
                    "inputs": config.get("inputs"), "metrics": config.get("metrics", {}),
                    "path": str(meta.with_suffix(""))})
    return out


def lightning_state_dict(checkpoint: str | Path) -> tuple[dict, dict]:
    """``(model state dict, hyper-parameters)`` of a Lightning checkpoint of :class:`miu2net.nn.module.MassMappingModule`,
    read with ``torch.load(weights_only=True)`` (tensors and plain containers only; no code runs)."""
    try:
        ckpt = torch.load(str(checkpoint), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InputError(f"{checkpoint}: cannot be read as a weights-only checkpoint ({exc})") from None
    state = {k[len("model."):]: v for k, v in ckpt.get("state_dict", {}).items() if k.startswith("model.")}
    if not state:
        raise InputError(f"{checkpoint}: holds no miu2net model weights")
    return state, dict(ckpt.get("hyper_parameters", {}))


def export_lightning_checkpoint(checkpoint: str | Path, out: str | Path, **info) -> tuple[Path, Path]:
    """Convert a Lightning checkpoint of one's own training run to safetensors + JSON.

    ``info`` are the :func:`save_model` keywords; ``pixel_arcmin`` and ``map_size`` default to the
    checkpoint's hyper-parameters.
    """
    state, hp = lightning_state_dict(checkpoint)
    kwargs = dict(hp.get("arch_kwargs", {}))
    if "inputs" in kwargs:
        kwargs["inputs"] = tuple(kwargs["inputs"])
    net = create_model(hp["arch"], **kwargs)
    net.load_state_dict(state)
    info.setdefault("pixel_arcmin", hp.get("pixel_arcmin"))
    info.setdefault("map_size", hp.get("map_size"))
    if info["pixel_arcmin"] is None or info["map_size"] is None:
        raise InputError("give pixel_arcmin and map_size: the checkpoint does not record them")
    return save_model(net, out, **info)
