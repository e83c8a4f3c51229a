r"""Calibrated per-pixel error bars and the data-consistency range of a trained model.

Split conformal prediction (Vovk et al. 2005; Angelopoulos & Bates 2021), in the spirit of Leterme et
al. (2025), who conformalise the intervals of mass-mapping networks: on a *calibration* set of maps the
network was never trained on, with truth :math:`\kappa`, prediction :math:`\hat\kappa` and predicted
spread :math:`\hat\sigma` (channel 1 of the network, :mod:`miu2net.nn.base`), every pixel gets the
nonconformity score

.. math:: s = |\kappa - \hat\kappa| / \hat\sigma

(:math:`\hat\sigma \equiv 1` for a network without a spread channel: intervals of constant width). For
a coverage :math:`c` the calibrated half-width is :math:`q_c\,\hat\sigma` with :math:`q_c` the
:math:`\lceil (n+1)c \rceil`-th smallest of the :math:`n` scores, so that a new pixel, exchangeable with
the calibration pixels, lies in :math:`[\hat\kappa - q_c\hat\sigma,\ \hat\kappa + q_c\hat\sigma]` with
probability at least :math:`c`. Pixels of one map are correlated, so the guarantee holds over maps
drawn like the calibration maps (marginally over pixels), with a finite-sample slack that shrinks with
the number of maps (use a few hundred).

Regions (Mondrian conformal prediction). The scores are also ranked separately in three classes of
pixels: ``edge`` (within ``edge_pixels`` of the map border), ``masked`` (masked, not edge) and
``observed`` (the rest); each class gets its own :math:`q_c`, so the coverage holds within each class
and not only on average (inside masks the network's spread may be off in its own way). A class with
fewer than :data:`MIN_CLASS_PIXELS` calibration pixels falls back to the table of all pixels.

Conditioned on noise. With at least 2 × :data:`MIN_MAPS_PER_BIN` calibration maps, the maps are also
split into up to :data:`MAX_NOISE_BINS` bins of equal counts in their median noise σ, and each class
gets a table per bin (keys ``observed@0`` …, edges in ``noise_edges``). A map's ``SIGMA`` then uses the
tables of its own noise level, so that the coverage holds at every depth, not only on average over the
depths of the calibration stream (a network's spread can be too wide for deep data and too narrow for
shallow data at once). A bin-class with too few pixels falls back to the class's table.

Data consistency. For each calibration map, the reduced :math:`\chi^2` of the data against the shear
forward-modelled from :math:`\hat\kappa` (:func:`miu2net.physics.consistency.chi2_per_dof`, exactly as
``reconstruct`` computes ``CHI2DOF``) is recorded with the map's median noise :math:`\sigma`. The
accepted range is the ``chi2_quantiles`` (default 0.5 %-99.5 %) range of those values, widened on each
side by ``chi2_margin`` (default 0.5) times its width, overall and in up to ten bins of equal counts
in :math:`\ln\sigma` (at least :data:`MIN_MAPS_PER_BIN` maps each): the
:math:`\chi^2` of a good map rises with the depth (the unexplained signal over a smaller noise), so a
network trained on many depths is judged against maps of its input's depth. Input whose
:math:`\chi^2` lies outside the range of its bin gets ``DATAOK = F``. The margin is there because the
quantiles of about 100 maps per bin are themselves noisy and the scatter of a map's :math:`\chi^2`
(about :math:`\sqrt{2/N_{\rm pix}}`, 1 % for 128² pixels) is comparable to the range's width: without
it good maps near the ends of the range were flagged (seen on the benchmark's held-out maps); a noise
map five times too small lies many widths away.
The :math:`\chi^2` alone misses B modes and a flipped e2 when the noise dominates each pixel (the
network's map then fits such data about as well as good data), so the calibration also records each
map's large-scale B/E power ratio (:func:`miu2net.physics.consistency.b_to_e_ratio`) and keeps its
range the same way (key ``"bmode"``) but with no margin: its scatter between maps is what the
quantiles measure, and a margin would swallow a flipped e2 at shallow depths. Only its upper end
counts (less B than on the calibration maps is no sign of trouble). ``DATAOK = F`` when either lies
outside its range. Below about 10 galaxies/arcmin² the lensing signal is too weak for
either statistic to tell a flipped e2 from good data on a 1.75° field.

Storage. :meth:`Calibration.to_dict` is plain JSON, stored under the key ``"calibration"`` of the
model's ``NAME.json`` by :func:`save_calibration` (the weights are not touched), or of a calibrated
copy (weights copied) at a new path; the ``calibrate`` command always writes a copy (``--out``) and a
shipped model is never changed::

    {"method": "split-conformal", "score": "abs_residual_over_sigma" | "abs_residual",
     "levels": [0.01, ..., 0.99, 0.995, 0.999],            # coverage grid
     "quantiles": {"all": [...], "observed": [...], "masked": [...] | null, "edge": [...] | null},
     "n_pixels": {...}, "n_maps": ..., "edge_pixels": ...,
     "empirical_coverage": {"all": {"0.68": ...}, ...},    # of the stored q on the calibration pixels
     "chi2dof": {"quantiles": [0.005, 0.995], "range": [lo, hi], "margin": 0.5,
                 "bins": [{"sigma": [lo, hi], "range": [lo, hi], "n": ...}, ...],
                 "percentiles": {"0": ..., "1": ..., "50": ..., "99": ..., "100": ...}},
     "bmode": {...the same for the B/E power ratio...},
     "data": {...}, "created": "...", "miu2net_version": "..."}

Any coverage inside the grid (0.01-0.999) is served by linear interpolation between grid levels.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from miu2net.errors import DataConsistencyWarning, InputError

# The pure part (the Calibration record, quantiles, pixel classes, ranges) lives in nn/conformal.py.
from miu2net.nn.conformal import (  # noqa: E402,F401  (re-exported)
    CLASSES,
    LEVELS,
    MAX_CHI2_BINS,
    MAX_NOISE_BINS,
    MIN_CLASS_PIXELS,
    MIN_MAPS_PER_BIN,
    REPORT_LEVELS,
    Calibration,
    conformal_quantiles,
    median_noise,
    pixel_classes,
    range_summary,
)

__all__ = ["Calibration", "DataConsistencyWarning", "calibrate", "conformal_quantiles", "coverage_report",
           "evaluate_coverage", "pixel_classes", "save_calibration"]


def calibrate(model: Any, samples: Iterable[dict], *, pixel_arcmin: float | None = None, n_max: int | None = None,
              edge_pixels: int | None = None, chi2_quantiles: tuple[float, float] = (0.005, 0.995),
              chi2_margin: float = 0.5, batch_size: int = 8, device: str = "cpu", data: dict | None = None,
              levels: Iterable[float] = LEVELS) -> Calibration:
    """Calibrate a trained model on held-out samples (module docstring).

    Args:
        model: a :class:`miu2net.nn.checkpoint.TrainedModel` (or a path/name for
            :func:`miu2net.nn.checkpoint.load_model`).
        samples: dicts with ``kappa`` (truth), ``g1``, ``g2``, ``mask`` and ``noise`` maps of the model's
            size (e.g. a :class:`miu2net.sims.dataset.SimDataset` split or a calibration stream); never
            maps the model was trained on.
        pixel_arcmin: the samples' pixel (default: the model's); must match the model's.
        n_max: use at most this many samples.
        edge_pixels: width of the ``edge`` class (default: 1/16 of the model's map size, at least 2).
        chi2_quantiles: the accepted CHI2DOF range as quantiles of the calibration values.
        chi2_margin: widen that range by this fraction of its width on each side (module docstring).
        batch_size, device: of the forward passes.
        data: description of the calibration data, stored with the calibration.
        levels: the coverage grid.

    Returns:
        the :class:`Calibration` (store it with :func:`save_calibration`).
    """
    from miu2net import __version__
    from miu2net.nn.base import predict_samples
    from miu2net.nn.checkpoint import TrainedModel, load_model
    from miu2net.physics.consistency import b_to_e_ratio, chi2_per_dof

    trained = model if isinstance(model, TrainedModel) else load_model(model)
    size = tuple(trained.map_size)
    if pixel_arcmin is not None and abs(float(pixel_arcmin) / trained.pixel_arcmin - 1.0) > 1e-3:
        raise InputError(f"calibration maps of {pixel_arcmin:g}' pixels for a model of {trained.pixel_arcmin:g}' pixels")
    if not 0 <= chi2_quantiles[0] < chi2_quantiles[1] <= 1:
        raise InputError(f"chi2_quantiles must be (lo, hi) with 0 <= lo < hi <= 1; got {chi2_quantiles}")
    if not 0 <= chi2_margin < 10:
        raise InputError(f"chi2_margin must be in [0, 10); got {chi2_margin}")
    edge = max(2, size[0] // 16) if edge_pixels is None else int(edge_pixels)
    levels = np.asarray(list(levels), dtype=np.float64)
    if levels.size == 0 or np.any(np.diff(levels) <= 0) or levels[0] <= 0 or levels[-1] >= 1:
        raise InputError("levels must increase strictly inside (0, 1)")
    net = trained.model.to(device).eval()
    has_spread = trained.model.out_channels > 1
    scores = {name: [] for name in CLASSES}
    chi2, b_ratios, noise_levels = [], [], []
    pending: list[dict] = []
    count = 0

    def flush() -> None:
        out = predict_samples(net, pending, batch_size=len(pending), device=device, pixel_arcmin=trained.pixel_arcmin)
        for s, o in zip(pending, out):
            truth = np.asarray(s["kappa"], dtype=np.float64)
            mask = (np.asarray(s["mask"]) > 0).astype(np.float64)
            resid = np.abs(truth - o[0])
            score = resid / o[1] if has_spread else resid
            classes = pixel_classes(mask, edge)
            for k, name in enumerate(CLASSES):
                scores[name].append(score[classes == k].astype(np.float32))
            noise = np.asarray(s["noise"], dtype=np.float64)
            chi2.append(chi2_per_dof(np.asarray(s["g1"], dtype=np.float64), np.asarray(s["g2"], dtype=np.float64),
                                     mask, noise, o[0]))
            b_ratios.append(b_to_e_ratio(s["g1"], s["g2"], mask, trained.pixel_arcmin))
            noise_levels.append(median_noise(noise, mask))
        pending.clear()

    for sample in samples:
        if n_max is not None and count >= n_max:
            break
        shape = tuple(np.shape(sample["kappa"]))
        if shape != size:
            raise InputError(f"calibration map of {shape[0]}x{shape[1]} pixels for a model of {size[0]}x{size[1]}; "
                             "calibrate on maps of the model's size")
        pending.append(sample)
        count += 1
        if len(pending) >= batch_size:
            flush()
    if pending:
        flush()
    if count < 2:
        raise InputError(f"calibration needs at least 2 maps; got {count}")
    per_class = {name: np.concatenate(v) if v else np.zeros(0, np.float32) for name, v in scores.items()}
    every = np.concatenate(list(per_class.values()))
    quantiles: dict[str, np.ndarray | None] = {"all": conformal_quantiles(every, levels)}
    n_pixels = {"all": int(every.size)}
    for name, s in per_class.items():
        n_pixels[name] = int(s.size)
        quantiles[name] = conformal_quantiles(s, levels) if s.size >= MIN_CLASS_PIXELS else None
    # Conditioned on noise: the classes again within bins of the maps' median noise (equal numbers of maps).
    levels_of_maps = np.asarray([np.nan if v is None else v for v in noise_levels])
    noise_edges = None
    n_bins = min(MAX_NOISE_BINS, count // MIN_MAPS_PER_BIN) if np.isfinite(levels_of_maps).all() else 0
    if n_bins >= 2:
        noise_edges = [float(v) for v in np.quantile(levels_of_maps, np.arange(1, n_bins) / n_bins)]
        which = np.searchsorted(noise_edges, levels_of_maps)
        for b in range(n_bins):
            maps_in = np.flatnonzero(which == b)
            for name in CLASSES:
                s_b = np.concatenate([scores[name][i] for i in maps_in]) if maps_in.size else np.zeros(0)
                n_pixels[f"{name}@{b}"] = int(s_b.size)
                quantiles[f"{name}@{b}"] = conformal_quantiles(s_b, levels) if s_b.size >= MIN_CLASS_PIXELS else None
    calibration = Calibration(noise_edges=noise_edges,
        levels=levels, quantiles=quantiles, n_pixels=n_pixels, n_maps=count, edge_pixels=edge,
        score="abs_residual_over_sigma" if has_spread else "abs_residual",
        chi2dof=range_summary(np.asarray(chi2), levels_of_maps,
                              chi2_quantiles, chi2_margin),
        bmode=range_summary(np.asarray(b_ratios), levels_of_maps,
                            chi2_quantiles, 0.0),
        data=dict(data or {}), created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        miu2net_version=__version__)
    # The coverage the stored quantiles reach on the calibration pixels themselves (>= the level by
    # construction, up to interpolation; reported so a user sees what the tables hold).
    report = {}
    for region in ("all",) + CLASSES:
        s = every if region == "all" else per_class[region]
        if s.size == 0:
            continue
        report[region] = {f"{c:g}": float(np.mean(s <= calibration.quantile(c, region))) for c in REPORT_LEVELS}
    calibration.empirical_coverage = report
    return calibration


def evaluate_coverage(model: Any, samples: Iterable[dict], *, coverages: Iterable[float] = REPORT_LEVELS,
                      n_max: int | None = None, batch_size: int = 8, device: str = "cpu") -> dict:
    """Empirical coverage of a calibrated model's intervals on (held-out) samples, overall and per class:
    the model's outputs on ``samples`` judged by :func:`coverage_report`."""
    from miu2net.nn.base import predict_samples
    from miu2net.nn.checkpoint import TrainedModel, load_model

    trained = model if isinstance(model, TrainedModel) else load_model(model)
    if trained.calibration is None:
        raise InputError(f"model {trained.name}: not calibrated; run `miu2net calibrate` first")
    samples = list(samples if n_max is None else (s for _, s in zip(range(n_max), samples)))
    outputs = predict_samples(trained.model, samples, batch_size=batch_size, device=device,
                              pixel_arcmin=trained.pixel_arcmin)
    return coverage_report(trained.calibration, samples, outputs, pixel_arcmin=trained.pixel_arcmin,
                           coverages=coverages)


def coverage_report(calibration: Calibration, samples: list[dict], outputs: np.ndarray, *, pixel_arcmin: float,
                    coverages: Iterable[float] = REPORT_LEVELS) -> dict:
    """Coverage of ``calibration``'s intervals around network ``outputs`` (``[N, C, ny, nx]``, physical
    units, channel 1 the spread) on the truths of ``samples``, overall and per class, with each map's
    CHI2DOF and DATAOK (CHI2DOF and the B/E power ratio, as ``reconstruct`` decides it).

    Returns ``{"all": {"0.68": fraction, ...}, "observed": ..., "masked": ..., "edge": ...,
    "mean_half_width": {"0.68": ...}, "n_maps": n, "chi2dof": [...], "dataok": [...]}``.
    """
    from miu2net.physics.consistency import b_to_e_ratio, chi2_per_dof

    cal = calibration
    coverages = [cal.check_coverage(c) for c in coverages]
    hits = {r: {c: [0, 0] for c in coverages} for r in ("all",) + CLASSES}
    widths = {c: [] for c in coverages}
    chi2s, oks = [], []
    for s, o in zip(samples, np.asarray(outputs, dtype=np.float64)):
        truth = np.asarray(s["kappa"], dtype=np.float64)
        mask = (np.asarray(s["mask"]) > 0).astype(np.float64)
        classes = pixel_classes(mask, cal.edge_pixels)
        spread = o[1] if o.shape[0] > 1 else None
        noise = np.asarray(s["noise"], dtype=np.float64)
        for c in coverages:
            width = cal.half_width(spread, mask, c, noise=noise)
            inside = np.abs(truth - o[0]) <= width
            widths[c].append(float(width.mean()))
            hits["all"][c][0] += int(inside.sum())
            hits["all"][c][1] += inside.size
            for k, name in enumerate(CLASSES):
                sel = classes == k
                hits[name][c][0] += int(inside[sel].sum())
                hits[name][c][1] += int(sel.sum())
        c2 = chi2_per_dof(np.asarray(s["g1"], dtype=np.float64), np.asarray(s["g2"], dtype=np.float64), mask,
                          noise, o[0])
        chi2s.append(c2)
        oks.append(cal.data_ok(c2, median_noise(noise, mask), b_to_e_ratio(s["g1"], s["g2"], mask, pixel_arcmin)))
    out = {r: {f"{c:g}": h[0] / h[1] for c, h in v.items() if h[1]} for r, v in hits.items()}
    out["mean_half_width"] = {f"{c:g}": float(np.mean(w)) for c, w in widths.items()}
    out["n_maps"] = len(samples)
    out["chi2dof"] = chi2s
    out["dataok"] = oks
    return out


# ---- storage -------------------------------------------------------------------------------------------


def check_calibration_target(model: str | Path, out: str | Path | None) -> None:
    """Refuse to write a calibration where it would change a shipped model or the model itself.

    ``out`` (a path stem; ``.safetensors``/``.json`` are stripped) must not be the model's own stem
    when the model is shipped (under :data:`miu2net.nn.checkpoint.MODELS_DIR`), must not lie in that
    folder at all, and its folder must exist. ``out=None`` means "in place", refused for a shipped model.
    """
    from miu2net.nn.checkpoint import MODELS_DIR, model_stem, resolve_model

    weights, _ = resolve_model(model)
    shipped_dir = MODELS_DIR.resolve()
    if out is None:
        if weights.resolve().parent == shipped_dir:
            raise InputError(f"{weights.stem} is a shipped model: calibrating it in place would change it for every "
                             "user; write a calibrated copy with --out NEW_NAME")
        return
    stem = model_stem(out)
    if stem.resolve().parent == shipped_dir:
        raise InputError(f"--out {out} lies in the shipped models' folder {MODELS_DIR}; write the calibrated "
                         "copy elsewhere (e.g. --out runs/NAME-calibrated)")
    if stem.resolve() == model_stem(weights).resolve():
        raise InputError(f"--out {out} is the model itself; give a new name for the calibrated copy")
    for suffix in (".safetensors", ".json"):
        target = stem.with_suffix(suffix)
        if target.is_dir():
            raise InputError(f"--out {out}: {target} is an existing directory; give another name")
    parent = stem.parent if str(stem.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"--out {out}: the folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"--out {out}: the folder {parent} is not writable")


def save_calibration(model: str | Path, calibration: Calibration, *, out: str | Path | None = None) -> Path:
    """Store ``calibration`` in the model's JSON (module docstring); returns the JSON path.

    ``out`` (a path stem) writes a calibrated copy (weights copied) instead of updating the model in
    place; a shipped model is never changed (:func:`check_calibration_target`). Any earlier
    calibration is replaced.
    """
    import shutil

    from miu2net.config import ModelCard
    from miu2net.io.files import atomic_write
    from miu2net.nn.checkpoint import model_stem, resolve_model

    check_calibration_target(model, out)
    weights, meta = resolve_model(model)
    config = json.loads(meta.read_text())
    config["calibration"] = calibration.to_dict()
    if out is not None:
        stem = model_stem(out)
        new_weights = stem.with_suffix(".safetensors")
        atomic_write(new_weights, lambda tmp: shutil.copyfile(weights, tmp), make_parents=True)
        meta = stem.with_suffix(".json")
    ModelCard.from_dict(config, source=str(meta))  # never write a card that loading would refuse
    Calibration.from_dict(config["calibration"])
    text = json.dumps(config, indent=2) + "\n"
    atomic_write(meta, lambda tmp: Path(tmp).write_text(text), make_parents=True)
    return meta


def calibration_samples(model_config: dict, *, data: Path | None, split: str, stream: bool, n: int | None,
                        seed: int, sim_config: Path | None = None) -> tuple[Any, dict]:
    """The calibration maps of ``miu2net calibrate`` and their description (stored with the calibration).

    A store's split (``data``, ``split``), or with ``stream`` a calibration stream
    (:data:`miu2net.nn.streaming.CALIBRATION_STREAM`, never the training stream) of the simulation
    configuration of ``sim_config`` or ``data``, with the depth ranges and the mixture of skies the model
    was trained on.
    """
    from miu2net.nn.data import dataset_fingerprint, open_splits

    if stream:
        from miu2net.config import load_config
        from miu2net.nn.streaming import CALIBRATION_STREAM, StreamingSimDataset
        from miu2net.sims.dataset import read_config

        if sim_config is not None:
            sim = load_config(sim_config)
        elif data is not None and data.suffix.lower() != ".npz":
            sim = read_config(data)
        else:
            raise InputError("--stream needs the simulation configuration: give --data STORE (Zarr) or --sim-config")
        ranges = ((model_config.get("notes") or {}).get("train_config") or {}).get("stream") or {}
        stream_ranges = ranges
        mixture = ranges.get("mixture")
        views = int(ranges.get("views_per_truth") or 1)
        ranges = {k: tuple(ranges[k]) for k in ("n_gal_arcmin2", "shape_noise_sigma", "masked_fraction") if k in ranges}
        crop = {"crop": stream_ranges.get("crop"), "crops_per_map": int(stream_ranges.get("crops_per_map") or 1),
                "wiener": "wiener" in (model_config.get("inputs") or ())}
        if mixture:  # the skies the model was trained on; outer masks are not (footprints as in the survey)
            ranges["mixture"] = dict(mixture)
            ranges["views_per_truth"] = views  # as in training: the truths (N-body boxes) cost the most
        ranges.update(crop)  # a whole-field model: windows of whole simulated fields, with their Wiener map
        count = 500 if n is None else n
        dataset = StreamingSimDataset(sim, length=count, seed=seed, stream=CALIBRATION_STREAM, **ranges)
        return dataset, {"kind": "stream", "ranges": dataset.ranges, "seed": seed, "n": count,
                         "fingerprint": dataset.fingerprint}
    if data is None:
        raise InputError("give --data (a Zarr store or .npz) or --stream")
    splits = open_splits(data)
    if split not in splits:
        raise InputError(f"unknown split {split!r}; choose train, val or test")
    dataset = splits[split]
    if len(dataset) == 0:
        raise InputError(f"{data}: split {split} holds no sample")
    fingerprint = dataset_fingerprint(dataset)
    if fingerprint == model_config.get("dataset_fingerprint"):
        raise InputError(f"{data} split {split} is the model's training set; calibrate on data it never trained on "
                         "(--split val, or --stream)")
    return dataset, {"kind": "store", "path": str(data), "split": split, "fingerprint": fingerprint}
