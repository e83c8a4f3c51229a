"""The benchmark protocol (docs/results.md): every method on the same test maps.

For each test sample the noisy masked shear is reconstructed by every method, and the result is compared
with the true convergence:

* RMSE over all pixels (masked ones included: a method must fill them), raw and after Gaussian smoothing
  of each given scale (standard deviation, arcmin), truth and reconstruction alike. Each map's mean is
  removed first: the mass sheet is not measurable from shear, so no method is charged for it.
* Pearson r of the raw maps (mean over maps).
* Power spectra (mean over maps) of truth and reconstruction, their ratio and the cross-correlation
  coefficient r(ℓ) = <C^{rt}>/sqrt(<C^{rr}><C^{tt}>) per ℓ bin; the largest ℓ up to which
  |<C^{rr}>/<C^{tt}> − 1| < 4 % in every bin from twice the fundamental mode up (the lowest bin,
  modes as large as the field, is lost by every method to the field's edges and is left out).
* The one-point PDF and the 2-D histogram of reconstructed against true pixel κ.
* Peaks of the maps smoothed at the largest scale, in units ν = κ/σ_t with σ_t the rms of the smoothed
  truth over the whole test set: counts per ν bin, and true peaks above ν = 3 matched to reconstructed
  peaks within 3 pixels (centroid offset in arcmin, amplitude ratio, completeness).
* Wall-clock seconds per map.

:func:`evaluate` is the pure accumulation (arrays in, numbers out); :func:`write_report` the shell that
writes ``metrics.json``, ``metrics.md`` and the figures.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from miu2net.config import preset
from miu2net.errors import InputError
from miu2net.io.files import atomic_write
from miu2net.maps import ShearMap
from miu2net.methods import reconstruct
from miu2net.sims.simulate import apply_survey
from miu2net.stats import cross_spectrum, find_peaks, gaussian_smooth, largest_ell_within, match_peaks, pearson_r, rmse
from miu2net.stats.spectra import default_ell_edges

PDF_EDGES = np.linspace(-0.12, 0.48, 121)
NU_EDGES = np.linspace(-2.0, 8.0, 21)
PEAK_NU_MIN = 3.0
PEAK_MATCH_PIX = 3.0
SPECTRUM_TOLERANCE = 0.04


def shear_of_sample(sample: dict, pixel_arcmin: float) -> ShearMap:
    """The ShearMap a method sees for a dataset sample (keys g1, g2, mask, noise)."""
    mask = np.asarray(sample["mask"], dtype=np.float64)
    noise = sample.get("noise")
    if noise is not None:
        noise = np.where(mask > 0, np.asarray(noise, dtype=np.float64), np.inf)
    return ShearMap(g1=sample["g1"], g2=sample["g2"], mask=mask, noise=noise, pixel_arcmin=pixel_arcmin)


def method_name(label: str) -> str:
    """The method behind a label: ``"ks:smoothed"`` runs ``ks`` (with that label's own options)."""
    return label.split(":", 1)[0]


def runnable_methods(
    methods: list[str], sample: dict, pixel_arcmin: float, method_options: dict[str, dict]
) -> tuple[list[str], dict[str, str]]:
    """Split ``methods`` into those that run on ``sample`` and those that cannot (name -> reason).

    A method that is not there yet, or a network with no model for these maps, is left out of the
    benchmark with its reason rather than failing the whole run; so is a network that bins the maps to
    its coarser pixel (the benchmark compares maps on the truth's grid).
    """
    from miu2net.methods import get_method

    for name in methods:  # a misspelled option is the user's mistake, not a method that cannot run here
        get_method(method_name(name)).check_options(method_options.get(name, {}))
    shear = shear_of_sample(sample, pixel_arcmin)
    usable, skipped = [], {}
    for name in methods:
        try:
            out = reconstruct(shear, method_name(name), **method_options.get(name, {}))
        except InputError as exc:
            skipped[name] = str(exc)
            continue
        if out.shape != shear.shape:
            how = (out.meta.get("binned") or {}).get("note", f"returns a {out.shape[0]}x{out.shape[1]} map")
            skipped[name] = (f"{how}; the benchmark compares maps on the truth's {shear.shape[0]}x{shear.shape[1]} "
                             f"grid of {pixel_arcmin:g}' pixels: use maps at the model's pixel")
            continue
        usable.append(name)
    return usable, skipped


@dataclass
class _Accumulator:
    """Running sums for one method (or for the truth)."""

    sq_err: dict = field(default_factory=dict)  # smoothing -> list of per-map RMSE
    pearson: list = field(default_factory=list)
    cl_auto: np.ndarray | None = None
    cl_cross: np.ndarray | None = None
    pdf: np.ndarray = field(default_factory=lambda: np.zeros(len(PDF_EDGES) - 1))
    hist2d: np.ndarray = field(default_factory=lambda: np.zeros((len(PDF_EDGES) - 1, len(PDF_EDGES) - 1)))
    peak_heights: list = field(default_factory=list)
    offsets: list = field(default_factory=list)
    ratios: list = field(default_factory=list)
    n_true_peaks: int = 0
    seconds: list = field(default_factory=list)
    chi2: list = field(default_factory=list)
    examples: list = field(default_factory=list)
    coverage: dict = field(default_factory=dict)  # level -> list of per-map fractions inside kappa_E ± half-width


def evaluate(
    samples: Iterable[dict],
    *,
    pixel_arcmin: float,
    methods: list[str],
    method_options: dict[str, dict] | None = None,
    smoothing_arcmin: tuple[float, ...] = (1.0, 2.0),
    n_examples: int = 3,
    progress: Callable[[int], None] | None = None,
    peak_arcmin: float | None = None,
    coverage_levels: tuple[float, ...] = (0.68, 0.9),
) -> dict:
    """Run every method on every sample and return the metrics (and a few example maps) as a dict.

    Args:
        samples: dicts with ``kappa`` (truth), ``g1``, ``g2``, ``mask`` and ``noise`` maps.
        pixel_arcmin: pixel side of the maps.
        methods: labels of methods: a name from :data:`miu2net.methods.METHODS`, or ``NAME:TAG`` to
            run one method twice with different options (e.g. ``ks`` and ``ks:1arcmin``).
        method_options: keyword options per label.
        smoothing_arcmin: Gaussian scales (standard deviation) for the smoothed RMSE; the largest is
            also the peak scale.
        n_examples: how many fields to keep for the side-by-side figure (the first few, plus the one
            with the highest true peak).
        peak_arcmin: smoothing scale of the peak statistics (default: the largest of ``smoothing_arcmin``).
        coverage_levels: for a method that returns a calibrated ``sigma`` (its 68 % half-width), the
            fraction of pixels whose truth lies in ``kappa_E ± `` the calibrated half-width at each level
            (the level's half-width is ``sigma`` times the ratio of the calibration's quantiles at the
            pixel, :func:`interval_scale`).
    """
    if not methods:
        raise InputError("no method to evaluate")
    method_options = method_options or {}
    accs = {m: _Accumulator() for m in methods}
    truth_acc = _Accumulator()
    ell_edges = None
    peak_scale = float(peak_arcmin) if peak_arcmin is not None else max(smoothing_arcmin) if smoothing_arcmin else 0.0
    smoothed_truths: list[np.ndarray] = []
    smoothed_recs: dict[str, list[np.ndarray]] = {m: [] for m in methods}
    best_field = (-np.inf, None)
    n = 0
    for sample in samples:
        truth = np.asarray(sample["kappa"], dtype=np.float64)
        truth = truth - truth.mean()
        shear = shear_of_sample(sample, pixel_arcmin)
        if ell_edges is None:
            ell_edges = default_ell_edges(truth.shape, pixel_arcmin)
            truth_acc.cl_auto = np.zeros(len(ell_edges) - 1)
        truth_acc.cl_auto += cross_spectrum(truth, None, pixel_arcmin, ell_edges=ell_edges).cl
        truth_acc.pdf += np.histogram(np.clip(truth, PDF_EDGES[0], PDF_EDGES[-1] - 1e-9), PDF_EDGES)[0]
        truth_s = gaussian_smooth(truth, sigma_arcmin=peak_scale, pixel_arcmin=pixel_arcmin)
        smoothed_truths.append(truth_s.astype(np.float32))
        keep_example = n < n_examples
        if truth.max() > best_field[0]:
            best_field = (truth.max(), n)
        maps = {}
        runs: dict[tuple, tuple] = {}  # this sample's outputs, by method and options (less the estimate)
        for m in methods:
            acc = accs[m]
            opts = dict(method_options.get(m, {}))
            key = (method_name(m), repr(sorted((k, v) for k, v in opts.items() if k != "estimate")))
            if opts.get("estimate") == "power" and key in runs and runs[key][0].kappa_power is not None:
                # The power-faithful map is the same network pass's second estimate: reuse it.
                first, seconds = runs[key]
                out = replace(first, kappa_e=first.kappa_power, kappa_power=None, kappa_mean=first.kappa_e,
                              sigma=None, meta={**first.meta, "estimate": "power"})
                acc.seconds.append(seconds)
            else:
                start = time.perf_counter()
                out = reconstruct(shear, method_name(m), **opts)
                acc.seconds.append(time.perf_counter() - start)
                if opts.get("estimate", "mean") == "mean":
                    runs[key] = (out, acc.seconds[-1])
            if "chi2dof" in out.meta:
                acc.chi2.append(out.meta["chi2dof"])
            if out.sigma is not None and "calibration" in out.meta:
                error = np.abs(out.kappa_e - np.asarray(sample["kappa"], dtype=np.float64))
                for level in coverage_levels:
                    half = out.sigma * interval_scale(out, shear, level)
                    acc.coverage.setdefault(level, []).append(float(np.mean(error <= half)))
            rec = out.kappa_e - out.kappa_e.mean()
            maps[m] = rec
            acc.sq_err.setdefault(0.0, []).append(rmse(rec, truth))
            for s in smoothing_arcmin:
                acc.sq_err.setdefault(s, []).append(rmse(
                    gaussian_smooth(rec, sigma_arcmin=s, pixel_arcmin=pixel_arcmin),
                    gaussian_smooth(truth, sigma_arcmin=s, pixel_arcmin=pixel_arcmin)))
            acc.pearson.append(pearson_r(rec, truth))
            auto = cross_spectrum(rec, None, pixel_arcmin, ell_edges=ell_edges).cl
            cross = cross_spectrum(rec, truth, pixel_arcmin, ell_edges=ell_edges).cl
            acc.cl_auto = auto if acc.cl_auto is None else acc.cl_auto + auto
            acc.cl_cross = cross if acc.cl_cross is None else acc.cl_cross + cross
            clipped = np.clip(rec, PDF_EDGES[0], PDF_EDGES[-1] - 1e-9)
            acc.pdf += np.histogram(clipped, PDF_EDGES)[0]
            acc.hist2d += np.histogram2d(np.clip(truth, PDF_EDGES[0], PDF_EDGES[-1] - 1e-9).ravel(), clipped.ravel(),
                                         bins=(PDF_EDGES, PDF_EDGES))[0]
            smoothed_recs[m].append(gaussian_smooth(rec, sigma_arcmin=peak_scale, pixel_arcmin=pixel_arcmin)
                                    .astype(np.float32))
        if keep_example:
            truth_acc.examples.append({"truth": truth, **maps, "mask": shear.mask})
        elif best_field[1] == n:
            truth_acc.examples = truth_acc.examples[:n_examples] + [{"truth": truth, **maps, "mask": shear.mask}]
        n += 1
        if progress is not None:
            progress(n)
    if n == 0:
        raise InputError("no test sample to evaluate")
    return _summarise(n, pixel_arcmin, ell_edges, truth_acc, accs, smoothed_truths, smoothed_recs, smoothing_arcmin,
                      peak_scale)


def interval_scale(kappa: Any, shear: Any, level: float) -> np.ndarray | float:
    """Per pixel, the calibrated half-width at ``level`` over ``kappa.sigma`` (the half-width at the
    coverage ``kappa`` was made with): the ratio of the model's conformal quantiles at the two levels
    for the pixel's class and noise bin (:mod:`miu2net.nn.calibration`)."""
    from miu2net.nn.inference import load

    calibration = load(kappa.meta["model"]).calibration
    ones = np.ones(shear.shape)
    made = calibration.half_width(ones, shear.mask, kappa.meta["coverage"], noise=shear.noise)
    return calibration.half_width(ones, shear.mask, level, noise=shear.noise) / made


def _summarise(n, pixel_arcmin, ell_edges, truth_acc, accs, smoothed_truths, smoothed_recs, smoothing_arcmin,
               peak_scale):
    shape = smoothed_truths[0].shape
    ell = cross_spectrum(np.zeros(shape), None, pixel_arcmin, ell_edges=ell_edges).ell
    cl_truth = truth_acc.cl_auto / n
    sigma_t = float(np.std(np.stack(smoothed_truths)))
    border = int(np.ceil(2 * max(peak_scale, 1.0) / pixel_arcmin))
    true_peaks = [find_peaks(t / sigma_t, threshold=PEAK_NU_MIN, border=border) for t in smoothed_truths]
    truth_counts = sum(np.histogram(find_peaks(t / sigma_t, threshold=NU_EDGES[0], border=border).height,
                                    NU_EDGES)[0] for t in smoothed_truths)
    report = {
        "n_maps": n, "pixel_arcmin": pixel_arcmin, "map_size": list(shape), "smoothing_arcmin": list(smoothing_arcmin),
        "peak_arcmin": peak_scale,
        "ell": ell.tolist(), "ell_edges": list(map(float, ell_edges)), "cl_truth": cl_truth.tolist(),
        "pdf_edges": PDF_EDGES.tolist(), "pdf_truth": (truth_acc.pdf / (truth_acc.pdf.sum() * np.diff(PDF_EDGES))).tolist(),
        "nu_edges": NU_EDGES.tolist(), "sigma_truth_smoothed": sigma_t, "peak_counts_truth": (truth_counts / n).tolist(),
        "methods": {},
    }
    for m, acc in accs.items():
        cl = acc.cl_auto / n
        ratio = cl / cl_truth
        r_ell = (acc.cl_cross / n) / np.sqrt(cl * cl_truth)
        matches = [match_peaks(tp, find_peaks(r / sigma_t, threshold=-np.inf, border=border),
                               max_distance=PEAK_MATCH_PIX) for tp, r in zip(true_peaks, smoothed_recs[m])]
        offsets = np.concatenate([mt.offset_pix for mt in matches]) if matches else np.array([])
        amp = np.concatenate([mt.amplitude_ratio for mt in matches]) if matches else np.array([])
        n_true = sum(mt.n_true for mt in matches)
        counts = sum(np.histogram(find_peaks(r / sigma_t, threshold=NU_EDGES[0], border=border).height,
                                  NU_EDGES)[0] for r in smoothed_recs[m])
        entry = {
            "rmse": float(np.mean(acc.sq_err[0.0])),
            "rmse_std": float(np.std(acc.sq_err[0.0])),
            **{f"rmse_smooth_{s:g}arcmin": float(np.mean(acc.sq_err[s])) for s in smoothing_arcmin},
            "pearson_r": float(np.mean(acc.pearson)),
            "cl_ratio": ratio.tolist(),
            "r_ell": r_ell.tolist(),
            "ell_max_within_4pct": largest_ell_within(ell, ratio, SPECTRUM_TOLERANCE, ell_min=ell_edges[1]),
            "pdf": (acc.pdf / (acc.pdf.sum() * np.diff(PDF_EDGES))).tolist(),
            "peak_counts": (counts / n).tolist(),
            "peak_completeness": float(len(offsets) / n_true) if n_true else float("nan"),
            "peak_offset_arcmin_median": float(np.median(offsets) * pixel_arcmin) if len(offsets) else float("nan"),
            "peak_amplitude_ratio_median": float(np.median(amp)) if len(amp) else float("nan"),
            "seconds_per_map": float(np.median(acc.seconds)),
            "chi2dof_median": float(np.median(acc.chi2)) if acc.chi2 else float("nan"),
        }
        if acc.coverage:
            entry["coverage"] = {f"{level:g}": float(np.mean(v)) for level, v in acc.coverage.items()}
        report["methods"][m] = entry
    report["_hist2d"] = {m: acc.hist2d for m, acc in accs.items()}
    report["_examples"] = truth_acc.examples
    return report


def markdown_table(report: dict) -> str:
    """The headline metrics as a Markdown table, one row per method, best RMSE first."""
    smooth = report["smoothing_arcmin"]
    head = ["method", "RMSE"] + [f"RMSE {s:g}′" for s in smooth] + ["Pearson r", "ℓ_max (4 %)", "peaks found",
                                                                     "peak offset [′]", "s / map"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    rows = sorted(report["methods"].items(), key=lambda kv: kv[1]["rmse"])
    for name, e in rows:
        cells = [name, f"{e['rmse']:.5f}"] + [f"{e[f'rmse_smooth_{s:g}arcmin']:.5f}" for s in smooth] + [
            f"{e['pearson_r']:.3f}", f"{e['ell_max_within_4pct']:.0f}", f"{e['peak_completeness']:.2f}",
            f"{e['peak_offset_arcmin_median']:.2f}", f"{e['seconds_per_map']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(report: dict, out_dir: str | Path, *, meta: dict | None = None) -> dict[str, Path]:
    """Write metrics.json, metrics.md and the figures into ``out_dir``; return their paths."""
    from miu2net import plots

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    public = {k: v for k, v in report.items() if not k.startswith("_")}
    public["meta"] = meta or {}
    paths = {"json": out / "metrics.json", "markdown": out / "metrics.md"}
    text = json.dumps(public, indent=1, default=float)
    atomic_write(paths["json"], lambda tmp: Path(tmp).write_text(text))
    title = f"{report['n_maps']} test maps of {report['map_size'][0]}² at {report['pixel_arcmin']:g}′"
    table = f"# Benchmark: {title}\n\n" + markdown_table(report)
    atomic_write(paths["markdown"], lambda tmp: Path(tmp).write_text(table))
    paths["maps"] = out / "maps.png"
    plots.plot_examples(report["_examples"], paths["maps"], pixel_arcmin=report["pixel_arcmin"])
    paths["spectra"] = out / "power_spectra.png"
    plots.plot_spectra(report, paths["spectra"], tolerance=SPECTRUM_TOLERANCE)
    paths["pdf"] = out / "pdf.png"
    plots.plot_pdfs(report, paths["pdf"])
    paths["dynamic_range"] = out / "dynamic_range.png"
    plots.plot_hist2d(report["_hist2d"], PDF_EDGES, paths["dynamic_range"])
    paths["peaks"] = out / "peaks.png"
    plots.plot_peaks(report, paths["peaks"])
    return paths


def compare_methods_on_truth(
    truth: np.ndarray,
    *,
    pixel_arcmin: float,
    methods: list[str],
    n_gal_arcmin2: float = 50.0,
    seed: int = 0,
    survey_preset: str = "csst",
) -> dict[str, np.ndarray]:
    """``{"truth": truth, method: kappa_E, ...}`` from one noisy, unmasked observation of ``truth``
    (e.g. a projected N-body cluster, outside the dataset path).

    The truth is observed exactly as a training sample is (:func:`miu2net.sims.simulate.apply_survey`):
    zero-padded KS forward, reduced shear, Gaussian pixel noise of the survey's depth; no mask.

    The survey is ``survey_preset`` at the truth's pixel scale and size with ``n_gal_arcmin2`` sources
    per arcmin². A method that cannot run on this input raises InputError naming it.
    """
    if truth.ndim != 2 or truth.shape[0] != truth.shape[1]:
        raise InputError(f"the truth map must be square; got shape {truth.shape}")
    config = preset(survey_preset).updated(survey={
        "map_size": truth.shape[0], "pixel_arcmin": pixel_arcmin, "n_gal_arcmin2": n_gal_arcmin2,
        "noise_model": "gaussian", "mask": {"enabled": False}})
    shear = shear_of_sample(apply_survey(truth, config, seed, periodic=False), pixel_arcmin)
    maps: dict[str, np.ndarray] = {"truth": truth}
    for name in (m.strip() for m in methods if m.strip()):
        try:
            kappa = reconstruct(shear, name)
        except InputError as exc:
            raise InputError(f"--compare-methods: {name} cannot run here: {exc}") from None
        if kappa.shape != truth.shape:  # a network that binned the input to its coarser pixel
            raise InputError(f"--compare-methods: {name} cannot be compared on this grid: it "
                             f"{(kappa.meta.get('binned') or {}).get('note', 'returns another grid')}")
        maps[name] = kappa.kappa_e
    return maps
