"""The benchmark protocol of the native model (issue #17): one sky, one depth, every method, coverage.

    python benchmarks/native.py --truth nbody|halo_model|gaussian --n-gal 50 [--n 500]
                                [--methods miu2net,miu2net:power,wiener,mcalens,ks] [--model PATH]
                                [--out benchmarks/results/native/nbody_ngal50]

The test maps: 128² pixels of 0.41' (the csst survey's pixel, the native model's field;
``configs/sims/csst-native.yaml``), sources at z_s = 1, σ_e = 0.4, Poisson galaxy counts, masks of
10-25 %, seeds from the base seed 12345 (never a training or calibration key). ``nbody``: maps of the
plane bank's two test simulations (never trained on); ``halo_model``: Gaussian field + NFW halos;
``gaussian``: the Gaussian field alone (where the Wiener filter is the optimum). Every method runs on
the same maps; ``miu2net:power`` is the same network's power-faithful estimate (``estimate=power``).
The Wiener filter is given the fiducial pyccl C_ell of the survey (Planck 2018; the N-body test
simulations have their own cosmologies, spread by 10 %) and the noise map.

Besides the metrics of ``miu2net evaluate``, ``coverage.json`` holds the empirical coverage of the
calibrated 68/90/95 % intervals ``KAPPA_E ± SIGMA`` on these maps, overall and per pixel class.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import yaml

from miu2net.config import load_config
from miu2net.evaluate import evaluate, markdown_table, runnable_methods, write_report
from miu2net.sims.dataset import SimDataset, create_dataset

ROOT = Path(__file__).resolve().parent.parent
SEED = 12345
DEFAULT_METHODS = "miu2net,miu2net:power,wiener,mcalens,ks"


def test_config(truth: str, n_gal: float, n: int):
    config = load_config(ROOT / "configs" / "sims" / "csst-native.yaml")
    sim = {"n_samples": 6, "n_test": n, "seed": SEED, "truth": "nbody" if truth == "nbody" else "halo_model"}
    if truth == "gaussian":
        sim["halos"] = {"enabled": False}
    return config.updated(sim=sim, survey={"n_gal_arcmin2": n_gal})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--truth", choices=("nbody", "halo_model", "gaussian"), default="nbody")
    parser.add_argument("--n-gal", type=float, default=50.0)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--methods", default=DEFAULT_METHODS)
    parser.add_argument("--model", default=None, help="the MIU2Net model (default: the shipped one for 0.41')")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--option", action="append", default=[], help="LABEL.KEY=VALUE, repeatable")
    args = parser.parse_args()
    tag = f"{args.truth}_ngal{args.n_gal:g}"
    out = args.out or ROOT / "benchmarks" / "results" / "native" / tag
    data = Path("/tmp") / f"miu2net_native_{tag}_{args.n}.zarr"
    config = test_config(args.truth, args.n_gal, args.n)
    start = time.perf_counter()
    create_dataset(data, config, workers=args.workers)
    t_sim = time.perf_counter() - start
    test = SimDataset(data, "test", fields=("kappa", "g1", "g2", "mask", "noise"))
    options: dict = {"ks": {}, "ks:1arcmin": {"smooth_arcmin": 1.0}, "miu2net:power": {"estimate": "power"}}
    if args.model:
        options["miu2net"] = {"model": args.model}
        options["miu2net:power"]["model"] = args.model
    for spec in args.option:
        key, _, value = spec.partition("=")
        label, _, name = key.rpartition(".")
        options.setdefault(label, {})[name] = yaml.safe_load(value)
    wanted = [m.strip() for m in args.methods.split(",") if m.strip()]
    usable, skipped = runnable_methods(wanted, test[0], test.pixel_arcmin, options)
    start = time.perf_counter()
    report = evaluate((test[i] for i in range(len(test))), pixel_arcmin=test.pixel_arcmin,
                      methods=usable + (["ks:1arcmin"] if "ks" in usable else []), method_options=options)
    t_eval = time.perf_counter() - start
    coverage = None
    if "miu2net" in usable:
        from miu2net.nn.calibration import evaluate_coverage
        from miu2net.nn.inference import default_model_for, load

        model = load(args.model or default_model_for("miu2net", test.pixel_arcmin))
        if model.calibration is not None:
            coverage = evaluate_coverage(model, (test[i] for i in range(len(test))))
            coverage = {k: v for k, v in coverage.items() if k not in ("chi2dof",)}
            coverage["dataok_fraction"] = float(sum(coverage.pop("dataok")) / max(coverage["n_maps"], 1))
    command = (f"python benchmarks/native.py --truth {args.truth} --n-gal {args.n_gal:g} --n {args.n}"
               + (f" --methods {args.methods}" if args.methods != DEFAULT_METHODS else "")
               + (f" --model {args.model}" if args.model else "") + "".join(f" --option {o}" for o in args.option))
    write_report(report, out, meta={"truth": args.truth, "n_gal_arcmin2": args.n_gal, "seed": SEED, "data": str(data),
                                    "pixel_arcmin": test.pixel_arcmin, "map_size": config.survey.map_size,
                                    "skipped": skipped, "options": options, "seconds_simulate": t_sim,
                                    "seconds_evaluate": t_eval, "coverage": coverage, "command": command})
    if coverage is not None:
        (out / "coverage.json").write_text(json.dumps(coverage, indent=1) + "\n")
    print(f"# {tag}: {report['n_maps']} test maps (simulated in {t_sim:.0f} s, evaluated in {t_eval:.0f} s)")
    for name, reason in skipped.items():
        print(f"skipped {name}: {reason}")
    print(markdown_table(report))
    if coverage is not None:
        print("coverage:", json.dumps({k: coverage[k] for k in ("all", "observed", "masked", "edge") if k in coverage}))


if __name__ == "__main__":
    main()
