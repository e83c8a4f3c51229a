r"""Inference with trained models: the one layer between a trained network and a κ map.

Everything a trained model needs to turn a ShearMap into a KappaMap lives here, once, for every
architecture (the ``miu2net`` and ``deepmass`` methods are thin adapters, :mod:`miu2net.methods`):
loading (:func:`load`: a TrainedModel passes through, a name or path is loaded once per process and
cached, so the tiles and noise realisations of one reconstruction share one model), input checks,
binning to the model's pixel, tiling, symmetrising, the spread → ``SIGMA`` calibration and the
``DATAOK`` decision. Which method serves an architecture is the registry's ``family``
(:func:`miu2net.nn.registry.family_of`): adding an architecture is one registration.

The model is a pair ``NAME.safetensors`` + ``NAME.json`` (:mod:`miu2net.nn.checkpoint`), a path or a
name under ``miu2net/models/``. Input at a finer pixel, where
the model's pixel is within 1 % of an integer multiple n >= 2 of the input's, is first binned n x n to
the model's pixel (:func:`miu2net.maps.bin_shear`, inverse-variance weights) and the κ map is returned on
that binned grid, with ``meta["binned"]`` saying so; every later step (B mode, SIGMA, CHI2DOF, DATAOK)
uses the binned shear. Otherwise the model refuses input of another pixel scale, a map smaller than its
training size (after any binning; but see embedding below) or a noise level outside its training range
unless ``allow_mismatch=True``. Which shipped model: by default the one trained at the input's pixel
(:func:`shipped_models`, from the models' cards), else the first the input bins to
(:func:`default_model_for`).

Small fields (embedding). A model trained with outer masks (its card's ``survey.stream.outer_mask``:
footprints covering as little as a fraction f of its field, :mod:`miu2net.sims.stream`) takes a map
smaller than its field: the map is embedded in the middle of the field, the outside masked (no data),
and the output cropped back. The map must cover at least f of the field and each side at least
:math:`\sqrt{f/2}` of the field's (the thinnest footprint trained on); otherwise, and for models
trained without outer masks, the smaller map is refused (``allow_mismatch`` pads it the same way).

Two estimates (``estimate``). A two-estimate model (output channel 2, :mod:`miu2net.nn.base`) gives
the minimum-RMSE map (the posterior mean; channel 0) and the power-faithful map. With
``estimate="mean"`` (default) ``KappaMap.kappa_e`` is the former and ``kappa_power`` the latter; with
``"power"``, ``kappa_e`` is the power-faithful map, ``kappa_mean`` the other, and there is no
``sigma`` (the calibration describes the errors of the minimum-RMSE map). CHI2DOF and DATAOK are
always those of the minimum-RMSE map, the map their calibrated ranges were measured on.

Maps larger than the model's training size are reconstructed in tiles of that size which overlap by
``network_overlap`` pixels, run in batches of ``batch_size`` on ``device``, and blended with feathered
weights: each tile's weight rises as a raised cosine across the overlap from every tile edge that lies
inside the map (edges on the map border keep full weight), and the result is the weighted mean. Each
tile of a network without the ``wiener`` input is reconstructed from its own shear only; a network
with it (``miu2net-csst``) gets the Wiener map of the whole (embedded) field, computed once before the
tiling (:func:`miu2net.physics.wiener.wiener_kappa`, the pyccl prior of the sources the model was
trained for, the input's own noise map), so every tile carries the field's large scales and, for a
residual network, adds its correction to them. A map smaller than the model is embedded (above).

Symmetrised inference (``symmetrise=True``): the network is run on the 8 rotations and reflections of
each tile (the shear transformed as a spin-2 field, :mod:`miu2net.nn.augment`) and its outputs, turned
back, are averaged: 8 times the cost for a map that no longer depends on the orientation of the grid
(what it gains and loses: ``benchmarks/results/quality_csst-small_symmetrised``).

B mode (``b_mode``): ``"ks"`` (default) the zero-padded Kaiser-Squires B mode of the input, a null test
of the shear; ``"network"`` the network applied to the shear rotated by 45°
(:math:`\gamma \to i\gamma` turns :math:`\kappa_E + i\kappa_B` into :math:`-\kappa_B + i\kappa_E`,
so :math:`\kappa_B = -` the network's κ of the rotated shear; twice the cost); ``"zero"``.

Error bars and data consistency (calibrated models, :mod:`miu2net.nn.calibration`). A model calibrated
by ``miu2net calibrate`` gives ``KappaMap.sigma``, the split-conformal half-width at ``coverage``
(default 0.68, i.e. the 68 % interval :math:`\hat\kappa \pm \sigma`): the network's own spread
channel times the calibrated quantile of the pixel's class (observed, masked, map edge); written as
``SIGMA`` (and ``SNR`` = κ_E / SIGMA) by the κ writer of :mod:`miu2net.io`. ``meta["chi2dof"]``
(:func:`miu2net.physics.consistency.chi2_per_dof` of κ_E) is computed for any model when the shear has a
noise map; a calibrated model also sets ``meta["dataok"]``: False, with a one-line
:class:`miu2net.nn.calibration.DataConsistencyWarning`, when that value lies outside the range the
model saw on its calibration data at the input's noise level (a wrong e1/e2 sign convention, B modes, a
noise map that understates the noise). For an uncalibrated model ``sigma`` stays None and ``dataok`` is
not set.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Any

import numpy as np

from miu2net.errors import InputError
from miu2net.maps import KappaMap, ShearMap, bin_shear
from miu2net.nn.augment import N_ELEMENTS, inverse, transform_raw, transform_scalar
from miu2net.nn.base import raw_from_shear
from miu2net.nn.checkpoint import MODELS_DIR, TrainedModel, list_models_on_disk, load_model
from miu2net.nn.registry import family_of
from miu2net.physics.consistency import b_to_e_ratio, chi2_per_dof
from miu2net.physics.operators import ks93_inverse, rotate_shear
from miu2net.physics.smoothing import gaussian_smooth
from miu2net.physics.units import ARCMIN_TO_RAD
from miu2net.physics.wiener import DEFAULT_Z_SOURCE, signal_power, wiener_kappa
from miu2net.tiling import feather, tile_starts

def shipped_models(family: str) -> tuple[tuple[str, float], ...]:
    """Every shipped model of ``family`` (``miu2net``, ``deepmass``) with its pixel in arcmin, as their
    cards (``models/*.json``) give them, finest pixel first (the name breaks ties): the first is the
    family's default. Read once per process."""
    return _shipped_models().get(family, ())


@lru_cache(maxsize=1)
def _shipped_models() -> dict[str, tuple[tuple[str, float], ...]]:
    out: dict[str, list[tuple[str, float]]] = {}
    for summary in list_models_on_disk(MODELS_DIR):
        out.setdefault(family_of(summary["arch"]), []).append((summary["name"], float(summary["pixel_arcmin"])))
    return {family: tuple(sorted(models, key=lambda m: (m[1], m[0]))) for family, models in out.items()}


def default_model(family: str) -> str:
    """The shipped model ``family`` uses when the input's pixel does not choose one (:func:`shipped_models`)."""
    shipped = shipped_models(family)
    if not shipped:
        raise InputError(f"no shipped {family} model in {MODELS_DIR}; give --option model=PATH")
    return shipped[0][0]


#: Input is binned n x n to a model's pixel when model pixel / input pixel lies this close to an integer n >= 2.
BIN_RTOL = 0.01


def default_model_for(family: str, pixel_arcmin: float | None = None) -> str:
    """The shipped model of ``family`` for input of ``pixel_arcmin``: the one trained at that pixel (within
    1 %), else the first one the input bins to (:func:`binning_factor`), else the family's default."""
    shipped = shipped_models(family)
    if pixel_arcmin is not None:
        for name, pixel in shipped:
            if abs(float(pixel_arcmin) / pixel - 1.0) <= BIN_RTOL:
                return name
        for name, pixel in shipped:
            if binning_factor(pixel_arcmin, pixel) > 1:
                return name
    return default_model(family)


def load(model: Any) -> TrainedModel:
    """``model`` itself when already a TrainedModel, else :func:`miu2net.nn.checkpoint.load_model` of the
    name or path (cached per process: the weights are read once)."""
    return model if isinstance(model, TrainedModel) else load_model(model)


def resolve_device(device: str) -> Any:
    import torch

    if device is None:
        return torch.device("cpu")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise InputError(f"unknown device {device!r}; use cpu, cuda, cuda:N or auto") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError("device cuda requested but no CUDA GPU is available; use device='cpu'")
    return dev


def _forward(net: Any, batch: Any, symmetrise: bool) -> Any:
    """``net(batch)``, or its mean over the 8 symmetries of the square (module docstring): each element
    transforms the raw input (shear as spin 2), and the output maps (scalars) are transformed back."""
    if not symmetrise:
        return net(batch)
    total = None
    for k in range(N_ELEMENTS):
        out = transform_scalar(net(transform_raw(batch, k)).float(), inverse(k))
        total = out if total is None else total + out
    return total / N_ELEMENTS


def predict_raw(net: Any, raw: np.ndarray, *, tile: tuple[int, int], overlap: int, device: str = "cpu",
                batch_size: int = 8, symmetrise: bool = False) -> np.ndarray:
    """Network output ``[C, ny, nx]`` (physical units) for a raw input ``[4, ny, nx]`` (``[5, ny, nx]`` with
    the whole field's Wiener map, :mod:`miu2net.nn.base`) at least as large as ``tile``, by overlapping
    feathered tiles (module docstring); ``symmetrise`` averages the network
    over the 8 symmetries of the square."""
    import torch

    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1; got {batch_size}")
    _, ny, nx = raw.shape
    ty, tx = tile
    if ny < ty or nx < tx:
        raise InputError(f"map {ny}x{nx} is smaller than the tile {ty}x{tx}")
    places = [(y0, x0) for y0 in tile_starts(ny, ty, overlap) for x0 in tile_starts(nx, tx, overlap)]
    places = [(y0, x0) for y0, x0 in places if raw[2, y0:y0 + ty, x0:x0 + tx].any()]
    dev = resolve_device(device)
    net = net.to(dev).eval()
    acc, weight = None, np.zeros((ny, nx))
    with torch.inference_mode():
        for start in range(0, len(places), batch_size):
            chunk = places[start:start + batch_size]
            batch = np.stack([raw[:, y0:y0 + ty, x0:x0 + tx] for y0, x0 in chunk])
            out = _forward(net, torch.from_numpy(batch).to(dev), symmetrise).float().cpu().numpy().astype(np.float64)
            if acc is None:
                acc = np.zeros((out.shape[1], ny, nx))
            for (y0, x0), tile_out in zip(chunk, out):
                w = feather((ty, tx), overlap, y_inner=(y0 > 0, y0 + ty < ny), x_inner=(x0 > 0, x0 + tx < nx))
                acc[:, y0:y0 + ty, x0:x0 + tx] += w * tile_out
                weight[y0:y0 + ty, x0:x0 + tx] += w
    if acc is None:
        return np.zeros((1, ny, nx))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight > 0, acc / weight, 0.0)


def predict(shear: ShearMap, *, model: Any = None, device: str = "cpu", batch_size: int = 8,
            allow_mismatch: bool = False, network_overlap: int | None = None, family: str | None = None,
            symmetrise: bool = False, correction_ell_min: float | None = None) -> tuple[np.ndarray, Any, list[str]]:
    """Every output channel ``[C, ny, nx]`` of a trained model on ``shear`` (channel 0 is κ; channel 1, when
    the model has one, the network's raw spread of κ, :mod:`miu2net.nn.base`), the loaded model, and the
    mismatch notes (non-empty only with ``allow_mismatch``). ``shear`` must be on the model's pixel: no
    binning here (:func:`bin_to_model` does it; :func:`reconstruct_with_model` calls both)."""
    trained = load(default_model(family or "miu2net") if model is None else model)
    if family is not None and family_of(trained.config["arch"]) != family:
        raise InputError(f"model {trained.name!r} is a {trained.config['arch']} network, not a {family} one; "
                         f"use method {family_of(trained.config['arch'])}")
    notes = trained.check_input(shear, allow_mismatch=allow_mismatch)
    raw = raw_from_shear(shear)
    if shear.noise is None and "noise" in trained.model.inputs:
        # Only reached with allow_mismatch: assume the model's reference noise on every observed pixel.
        raw[3] = np.where(raw[2] > 0, trained.model.normalisation["noise_ref"], 0.0)
        notes.append(f"noise map assumed uniform at the model's reference σ = {raw[3].max():.4g}")
    ny, nx = shear.shape
    ty, tx = trained.map_size
    py, px = max(ty - ny, 0), max(tx - nx, 0)
    if py or px:  # embedded in the model's field, the outside masked (centred)
        raw = np.pad(raw, ((0, 0), (py // 2, py - py // 2), (px // 2, px - px // 2)))
    kappa_wf = None
    if "wiener" in trained.model.inputs:
        # The whole field's Wiener map, once, before any tiling: every tile then carries every scale.
        kappa_wf = wiener_kappa(raw[0], raw[1], raw[2], raw[3], pixel_arcmin=shear.pixel_arcmin,
                                cl_of_ell=wiener_prior(trained))
        raw = np.concatenate([raw, kappa_wf[None].astype(np.float32)])
    overlap = ty // 4 if network_overlap is None else int(network_overlap)
    if not 0 <= overlap < min(ty, tx):
        raise InputError(f"network_overlap must be in [0, {min(ty, tx)}); got {overlap}")
    out = predict_raw(trained.model, raw, tile=(ty, tx), overlap=overlap, device=device, batch_size=batch_size,
                      symmetrise=symmetrise)
    if getattr(trained.model, "residual", False) and kappa_wf is not None:
        ell_min = tile_fundamental_ell((ty, tx), shear.pixel_arcmin) if correction_ell_min is None \
            else float(correction_ell_min)
        for c in [c for c in (0, 2) if c < out.shape[0]]:
            out[c] = kappa_wf + high_pass(out[c] - kappa_wf, ell_min, shear.pixel_arcmin)
    return out[:, py // 2:py // 2 + ny, px // 2:px // 2 + nx], trained, notes


def tile_fundamental_ell(tile: tuple[int, int], pixel_arcmin: float) -> float:
    """ℓ of the fundamental mode of a tile (inverse radians): 2π over its longer side."""
    return 2.0 * np.pi / (max(tile) * float(pixel_arcmin) * ARCMIN_TO_RAD)


def high_pass(field: np.ndarray, ell_min: float, pixel_arcmin: float) -> np.ndarray:
    r"""``field`` less its Gaussian-smoothed self: the transfer :math:`1 - e^{-\ell^2\sigma^2/2}` with
    :math:`\sigma = \sqrt{2\ln 2}/\ell_{\min}` keeps half the amplitude of a mode at ``ell_min`` (inverse
    radians), nothing at ℓ → 0 and all of it at high ℓ; reflecting edges (no wrap-around). ``ell_min`` 0:
    ``field`` unchanged."""
    if ell_min <= 0:
        return field
    sigma_arcmin = np.sqrt(2.0 * np.log(2.0)) / float(ell_min) / ARCMIN_TO_RAD
    return field - gaussian_smooth(field, sigma_arcmin=sigma_arcmin, pixel_arcmin=pixel_arcmin)


def wiener_prior(trained: TrainedModel) -> Any:
    """The prior C_ell of a model's Wiener input: pyccl's for the sources of the survey it was trained on
    (its card's ``survey``: ``nz`` or ``z_source``, default z_s = 1)."""
    from miu2net.config.model_card import TrainedSurvey
    from miu2net.sims.simulate import source_nz

    survey = (trained.config.get("survey") or {})
    nz = source_nz(TrainedSurvey.model_validate(survey)) if survey.get("nz") else None
    z_source = None if nz is not None else float(survey.get("z_source") or DEFAULT_Z_SOURCE)
    return signal_power(cl_kappa=None, z_source=z_source, nz=nz)[0]


def binning_factor(input_pixel_arcmin: float, model_pixel_arcmin: float) -> int:
    """n >= 2 when ``model_pixel / input_pixel`` lies within :data:`BIN_RTOL` (1 %) of the integer n, else 1."""
    ratio = float(model_pixel_arcmin) / float(input_pixel_arcmin)
    n = int(round(ratio))
    return n if n >= 2 and abs(ratio / n - 1.0) <= BIN_RTOL else 1


def bin_to_model(shear: ShearMap, model: Any) -> tuple[ShearMap, dict | None]:
    """``shear`` binned n x n to the pixel of ``model`` (a TrainedModel, path or name) when
    :func:`binning_factor` gives n >= 2, with ``meta["binned"]`` of the binned map (else None); otherwise
    ``shear`` unchanged and None. The binned map is then checked by the model like any other input."""
    trained = load(model)
    factor = binning_factor(shear.pixel_arcmin, trained.pixel_arcmin)
    if factor == 1:
        return shear, None
    binned = bin_shear(shear, factor)
    return binned, binned.meta["binned"]


def reconstruct_with_model(shear: ShearMap, *, method: str, model: Any, device: str, batch_size: int,
                           allow_mismatch: bool, network_overlap: int | None, b_mode: str,
                           coverage: float = 0.68, symmetrise: bool = False, estimate: str = "mean",
                           correction_ell_min: float | None = None) -> KappaMap:
    """The shared body of the ``miu2net`` and ``deepmass`` methods (module docstring). The options come
    checked by the methods' declaration (:mod:`miu2net.methods.base`)."""
    if model is None:
        model = default_model_for(method, shear.pixel_arcmin)
    coverage = float(coverage)
    trained = load(model)
    if estimate == "power" and not trained.has_power_map:
        raise InputError(f"model {trained.name!r} gives one estimate only; estimate='power' needs a two-estimate "
                         f"model such as {default_model('miu2net')}")
    shear, binned = bin_to_model(shear, trained)  # from here on every use of the shear sees the model's grid
    try:
        out, trained, notes = predict(shear, model=trained, device=device, batch_size=batch_size,
                                      allow_mismatch=allow_mismatch, network_overlap=network_overlap, family=method,
                                      symmetrise=symmetrise, correction_ell_min=correction_ell_min)
    except InputError as exc:
        if binned is None:
            raise
        raise InputError(f"{exc} (the input was first {binned['note']})") from None
    if b_mode == "ks":
        kappa_b = ks93_inverse(shear.g1 * shear.mask, shear.g2 * shear.mask, pad=True)[1]
    elif b_mode == "network":
        r1, r2 = rotate_shear(shear.g1, shear.g2, np.pi / 4)
        rotated, _, _ = predict(shear.with_shear(r1, r2), model=trained, device=device, batch_size=batch_size,
                                allow_mismatch=True, network_overlap=network_overlap, symmetrise=symmetrise,
                                correction_ell_min=correction_ell_min)
        kappa_b = -rotated[0]
    else:
        kappa_b = np.zeros(shear.shape)
    meta = {
        "method": method,
        "model": trained.name,
        "options": {"model": str(model) if not hasattr(model, "config") else trained.name, "device": device,
                    "batch_size": batch_size, "allow_mismatch": allow_mismatch, "network_overlap": network_overlap,
                    "b_mode": b_mode, "coverage": coverage, "symmetrise": symmetrise, "estimate": estimate,
                    "correction_ell_min": correction_ell_min},
        "model_config": model_config(trained),
    }
    if binned is not None:
        meta["binned"] = binned
    if notes:
        meta["mismatch"] = notes
    kappa_mean, kappa_power = out[0], None
    if trained.has_power_map:
        kappa_power = out[2]
        meta["estimate"] = estimate
    elif out.shape[0] > 2:
        meta["extra_output_channels"] = int(out.shape[0] - 2)
    sigma = None
    calibration = trained.calibration
    if calibration is not None and estimate == "mean":
        sigma = calibration.half_width(out[1] if out.shape[0] > 1 else None, shear.mask, coverage, noise=shear.noise)
        meta["coverage"] = coverage
        meta["calibration"] = {"n_maps": calibration.n_maps, "score": calibration.score,
                               "chi2dof_range": list(calibration.chi2_range())}
    if shear.noise is not None:
        # Here, not in miu2net.methods.reconstruct: the κ map may be on a binned grid the caller never saw.
        meta.update(data_check(shear, kappa_mean, calibration))
    if estimate == "power":
        # KAPPA_E is the power-faithful map; SIGMA (calibrated for the mean) is then not given.
        return KappaMap(kappa_e=kappa_power, kappa_b=kappa_b, pixel_arcmin=shear.pixel_arcmin, wcs=shear.wcs,
                        kappa_mean=kappa_mean, meta=meta)
    return KappaMap(kappa_e=kappa_mean, kappa_b=kappa_b, pixel_arcmin=shear.pixel_arcmin, sigma=sigma, wcs=shear.wcs,
                    kappa_power=kappa_power, meta=meta)


def model_config(trained: TrainedModel) -> dict:
    """What a κ map's provenance says of the model that made it: its card's architecture, inputs,
    training grid, noise range, survey, data fingerprint and version (``MODELCFG`` in the FITS header)."""
    config = trained.config
    survey = config.get("survey") or {}
    return {"arch": config["arch"], "inputs": list(config.get("inputs") or []),
            "out_channels": config.get("out_channels"), "map_size": config["map_size"],
            "pixel_arcmin": config["pixel_arcmin"], "noise_range": config.get("noise_range"),
            "survey": survey.get("name"), "dataset_fingerprint": config.get("dataset_fingerprint"),
            "miu2net_version": config.get("miu2net_version"), "calibrated": trained.calibration is not None}


def data_check(shear: ShearMap, kappa_e: np.ndarray, calibration: Any) -> dict:
    """``{"chi2dof"}`` of ``kappa_e`` against ``shear`` (which has a noise map), and for a calibrated
    model ``"dataok"`` and, when calibrated, ``"b_to_e"`` (module docstring; warns when not ok)."""
    chi2 = chi2_per_dof(shear.g1, shear.g2, shear.mask, shear.noise, kappa_e)
    out = {"chi2dof": chi2}
    if calibration is None:
        return out
    b_ratio = None
    if calibration.bmode:
        b_ratio = out["b_to_e"] = b_to_e_ratio(shear.g1, shear.g2, shear.mask, shear.pixel_arcmin)
    out["dataok"] = calibration.check(chi2, shear.noise, shear.mask, b_ratio=b_ratio)
    return out


def recheck_consistency(kappa: KappaMap, shear: ShearMap, *, model: Any = None) -> KappaMap:
    """CHI2DOF and DATAOK of a whole map assembled from pieces (e.g. wide-field tiles, each checked alone)
    against the calibration of ``model`` (default: the model named in ``kappa.meta["model"]``); unchanged
    when that model is not calibrated or the shear has no noise map."""
    if shear.noise is None or not (model or kappa.meta.get("model")):
        return kappa
    calibration = load(model or kappa.meta["model"]).calibration
    if calibration is None:
        return kappa
    mean = kappa.kappa_mean if kappa.kappa_mean is not None else kappa.kappa_e  # the map CHI2DOF is calibrated for
    return replace(kappa, meta={**kappa.meta, **data_check(shear, mean, calibration)})
