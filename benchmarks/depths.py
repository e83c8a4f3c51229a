"""One network for every depth (issue #10): MIU2Net against the Wiener filter at 10-100 galaxies/arcmin².

    python benchmarks/depths.py [--n 500] [--depths 10 20 30 50 100] [--fields gaussian halos]
                                [--model miu2net-csst-quick] [--control 20=runs/u2net-single-depth-n20/model ...]
                                [--out benchmarks/results/depths]

Held-out test maps of the shipped model's field (preset ``csst-small``: 128² pixels of 0.82′, sources at
z_s = 1, masks of 10-25 %) at each depth, with Poisson galaxy counts per pixel (σ = σ_e/√(2N), σ_e = 0.4,
empty pixels masked), seeded from ``SeedSequence([20261126, field, depth])`` (never a training seed). Two
truths: ``gaussian`` (the Gaussian field alone, with the full non-linear pyccl C_ℓ: there the Wiener
filter is the optimum), ``halos`` (the training truth: the field plus NFW halos and merging pairs) and
``halo-rich`` (the halos and merging pairs alone, a field the network never saw: the Wiener filter then
gets the true prior measured as the mean spectrum of 100 such truth maps, and is also run with the
pyccl prior a user would take, row ``wiener_pyccl_prior``).

Per depth and truth:

* RMSE (per map after removing each map's mean, as in the benchmark protocol, averaged over maps) of
  the network and of the Wiener filter given the true prior (the pyccl C_ℓ of the simulation) and the
  true per-pixel noise, the latter on the first ``--wiener-n`` maps (it dominates the cost); the ratio
  network / Wiener on those same maps, with its standard error;
* with ``--control DEPTH=MODEL`` (repeatable): the RMSE of networks trained at that one depth, and of
  ``--stream-control`` (the every-depth network trained on the same budget as the controls);
* coverage of the calibrated 68 % and 90 % intervals over all pixels, observed, masked and edge pixels
  (the model's calibration classes), and the mean 68 % half-width beside the Wiener posterior σ of the
  same survey (unmasked field of uniform noise σ_e/√(2 n A), Σ_ℓ S N/(S+N): a lower bound for masked maps);
* CHI2DOF (median and 5-95 %) and the fraction of maps with DATAOK = T (CHI2DOF and the B/E power
  ratio inside the model's calibrated ranges, as ``reconstruct`` decides it).

Writes OUT/depths.json and OUT/depths.md and prints the table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from miu2net.config import preset
from miu2net.maps import ShearMap
from miu2net.methods import reconstruct
from miu2net.nn.base import predict_samples
from miu2net.nn.calibration import coverage_report
from miu2net.nn.checkpoint import load_model
from miu2net.physics.cosmology import kappa_cl
from miu2net.sims.simulate import simulate_sample
from miu2net.stats.metrics import rmse_centred
from miu2net.stats.spectra import ell_grid, power_spectrum

SEED = 20261126
FIELDS = {"gaussian": 0, "halos": 1, "halo-rich": 2}
LEVELS = (0.68, 0.9)


def test_config(field: str, n_gal: float, shape_noise_sigma: float = 0.4):
    """The shipped model's field at one depth, Poisson counts; ``gaussian`` switches the halos off,
    ``halo-rich`` the Gaussian field (the halos and merging pairs alone carry the signal)."""
    sim = {"halos": {"enabled": field != "gaussian"}}
    if field == "halo-rich":
        sim["field"] = "none"
    return preset("csst-small").updated(
        survey={"n_gal_arcmin2": float(n_gal), "shape_noise_sigma": shape_noise_sigma, "noise_model": "poisson"},
        sim=sim)


def measured_prior(truths: list[np.ndarray], pixel_arcmin: float):
    """C_ell(ell) interpolated (in log-log) from the mean binned spectrum of truth maps: the Wiener prior
    of a field whose spectrum is not pyccl's (the halo-rich truth)."""
    spectra = [power_spectrum(t - t.mean(), pixel_arcmin, n_bins=24) for t in truths]
    ell = spectra[0].ell
    cl = np.mean([sp.cl for sp in spectra], axis=0)
    good = np.isfinite(ell) & np.isfinite(cl) & (cl > 0)
    log_ell, log_cl = np.log(ell[good]), np.log(cl[good])

    def cl_kappa(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return np.exp(np.interp(np.log(np.maximum(x, 1e-30)), log_ell, log_cl))

    return cl_kappa


def test_seeds(field: str, n_gal: float, n: int) -> list[int]:
    ss = np.random.SeedSequence([SEED, FIELDS[field], int(round(n_gal * 10))])
    return [int(s >> np.uint64(1)) for s in ss.generate_state(n, np.uint64)]


def wiener_posterior_sigma(config) -> float:
    """Pixel σ of the Wiener posterior on a periodic, unmasked map of uniform noise (module docstring)."""
    s = config.survey
    n = s.map_size
    dx = np.deg2rad(s.pixel_arcmin / 60.0)
    ell = ell_grid((n, n), s.pixel_arcmin)
    cl = np.zeros_like(ell)
    cl[ell > 0] = kappa_cl(ell[ell > 0], z_source=s.z_source)
    signal = n * n * cl / dx**2  # E|kappa_k|^2 of numpy's unnormalised FFT
    sigma_pix = s.shape_noise_sigma / np.sqrt(2.0 * s.n_gal_arcmin2 * s.pixel_arcmin**2)
    noise = n * n * sigma_pix**2  # kappa_E noise per mode: the per-component shear variance, white
    post = np.where(signal > 0, signal * noise / (signal + noise), 0.0)
    return float(np.sqrt(post.sum() / (n * n) ** 2))


def _rmse_rows(outputs: np.ndarray, samples: list[dict]) -> list[float]:
    return [rmse_centred(o[0], s["kappa"]) for s, o in zip(samples, outputs)]


def evaluate_depth(field: str, n_gal: float, n: int, trained, controls: dict, stream_control,
                   wiener_n: int | None = None) -> dict:
    config = test_config(field, n_gal)
    start = time.perf_counter()
    samples = [simulate_sample(config, seed) for seed in test_seeds(field, n_gal, n)]
    t_sim = time.perf_counter() - start
    out = predict_samples(trained.model, samples)
    wiener_n = n if wiener_n is None else min(int(wiener_n), n)
    prior = {}
    if field == "halo-rich":
        prior["cl_kappa"] = measured_prior([s["kappa"].astype(np.float64) for s in samples[:100]],
                                           config.survey.pixel_arcmin)
    rows = {"miu2net": _rmse_rows(out, samples), "wiener": []}
    for s in samples[:wiener_n]:
        mask = (s["mask"] > 0).astype(np.float64)
        noise = np.where(mask > 0, s["noise"], np.inf).astype(np.float64)
        shear = ShearMap(g1=s["g1"], g2=s["g2"], pixel_arcmin=config.survey.pixel_arcmin, mask=mask, noise=noise)
        rows["wiener"].append(rmse_centred(reconstruct(shear, "wiener", **prior).kappa_e, s["kappa"]))
        if prior:  # also the prior a user would take: pyccl's C_ell of the survey
            rows.setdefault("wiener_pyccl_prior", []).append(
                rmse_centred(reconstruct(shear, "wiener").kappa_e, s["kappa"]))
    for name, model in controls.items():
        rows[name] = _rmse_rows(predict_samples(model.model, samples), samples)
    if stream_control is not None and controls:
        rows["stream_control"] = _rmse_rows(predict_samples(stream_control.model, samples), samples)
    result = {"field": field, "n_gal_arcmin2": n_gal, "n_maps": n, "n_maps_wiener": wiener_n,
              "seconds_simulate": round(t_sim, 1),
              "rmse": {k: float(np.mean(v)) for k, v in rows.items()},
              "rmse_sem": {k: float(np.std(v) / np.sqrt(len(v))) for k, v in rows.items()},
              "wiener_posterior_sigma": wiener_posterior_sigma(config)}
    # Paired ratio: the same maps for both, so the map-to-map scatter cancels.
    paired = np.asarray(rows["miu2net"][:wiener_n])
    ratio = paired / np.asarray(rows["wiener"])
    result["rmse_paired"] = {"miu2net": float(paired.mean()), "wiener": float(np.mean(rows["wiener"]))}
    result["rmse_ratio_to_wiener"] = float(paired.mean() / np.mean(rows["wiener"]))
    result["rmse_ratio_sem"] = float(np.std(ratio) / np.sqrt(len(ratio)))
    if trained.calibration is not None:
        report = coverage_report(trained.calibration, samples, out, pixel_arcmin=config.survey.pixel_arcmin,
                                 coverages=LEVELS)
        result["coverage"] = {r: report[r] for r in ("all", "observed", "masked", "edge") if r in report}
        result["mean_half_width_68"] = report["mean_half_width"]["0.68"]
        chi2s = report["chi2dof"]
        result["chi2dof"] = {"median": float(np.median(chi2s)), "p05": float(np.percentile(chi2s, 5)),
                             "p95": float(np.percentile(chi2s, 95))}
        result["dataok_fraction"] = float(np.mean(report["dataok"]))
    return result


def markdown(results: list[dict]) -> str:
    controls = sorted({k for r in results for k in r["rmse"]} - {"miu2net", "wiener"})  # incl. wiener_pyccl_prior
    head = ["truth", "n_gal", "maps", "RMSE MIU2Net", "RMSE Wiener (maps)", "MIU2Net / Wiener (same maps)"] + [f"RMSE {c}" for c in controls]
    head += ["cover 68 % (obs / masked / edge)", "cover 90 %", "half-width 68 %", "Wiener post. σ",
             "CHI2DOF median [5-95 %]", "DATAOK = T"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        cells = [r["field"], f"{r['n_gal_arcmin2']:g}", str(r["n_maps"]), f"{r['rmse']['miu2net']:.5f}",
                 f"{r['rmse']['wiener']:.5f} ({r['n_maps_wiener']})", f"{r['rmse_ratio_to_wiener']:.3f} ± {r['rmse_ratio_sem']:.3f}"]
        cells += [f"{r['rmse'][c]:.5f}" if c in r["rmse"] else "" for c in controls]
        if "coverage" in r:
            cov = r["coverage"]
            cells += [f"{cov['all']['0.68']:.3f} ({cov['observed']['0.68']:.3f} / {cov.get('masked', {}).get('0.68', float('nan')):.3f} / "
                      f"{cov['edge']['0.68']:.3f})", f"{cov['all']['0.9']:.3f}", f"{r['mean_half_width_68']:.4f}",
                      f"{r['wiener_posterior_sigma']:.4f}",
                      f"{r['chi2dof']['median']:.2f} [{r['chi2dof']['p05']:.2f}-{r['chi2dof']['p95']:.2f}]",
                      f"{r['dataok_fraction']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--depths", type=float, nargs="+", default=[10, 20, 30, 50, 100])
    parser.add_argument("--fields", nargs="+", default=list(FIELDS), choices=list(FIELDS))
    parser.add_argument("--model", default="miu2net-csst-quick")
    parser.add_argument("--control", action="append", default=[], help="DEPTH=MODEL: a network trained at that depth only")
    parser.add_argument("--stream-control", default=None, help="the every-depth network on the controls' budget")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "depths")
    parser.add_argument("--wiener-n", type=int, default=None, help="Wiener filter on the first N maps only")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    trained = load_model(args.model)
    controls = {}
    for spec in args.control:
        depth, _, path = spec.partition("=")
        controls[float(depth)] = load_model(path)
    stream_control = load_model(args.stream_control) if args.stream_control else None
    results = []
    for field in args.fields:
        for depth in args.depths:
            start = time.perf_counter()
            here = {f"single_depth_{depth:g}": controls[depth]} if depth in controls else {}
            results.append(evaluate_depth(field, depth, args.n, trained, here, stream_control, args.wiener_n))
            print(f"{field} n_gal={depth:g}: {time.perf_counter() - start:.0f} s "
                  f"{json.dumps(results[-1]['rmse'])}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/depths.py " + " ".join(
        [f"--n {args.n}"] + ([f"--wiener-n {args.wiener_n}"] if args.wiener_n else []) + ["--depths " + " ".join(f"{d:g}" for d in args.depths), "--fields " + " ".join(args.fields)]
        + [f"--control {c}" for c in args.control] + ([f"--stream-control {args.stream_control}"] if args.stream_control else []))
    payload = {"model": trained.name, "command": command, "results": results}
    stem = args.out / ("depths_" + "_".join(args.fields) + "_" + "_".join(f"{d:g}" for d in args.depths))
    stem.with_suffix(".json").write_text(json.dumps(payload, indent=2) + "\n")
    table = markdown(results)
    stem.with_suffix(".md").write_text(f"`{command}` (model {trained.name})\n\n" + table)
    print(table)


if __name__ == "__main__":
    main()
