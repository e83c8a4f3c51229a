"""The benchmark protocol on the survey's grid: one sky, every depth, every method, coverage.

    python benchmarks/native.py --truth nbody|halo_model|gaussian [--n-gal 10,20,50,100] [--n 200]
                                [--size 256] [--methods miu2net,miu2net:power,wiener,mcalens,ks] [--model PATH]

The test maps: by default 256² pixels of 0.41' (the csst survey's grid, 1.75°; ``--size 128`` gives the
native model's own field, the protocol before the whole-field model), cut from skies four times larger
(the halo-model and Gaussian boxes are twice the map per side and the N-body maps are drawn on 512²
boxes: the shear inside carries the pull of the mass outside, never periodic on the map), sources at z_s = 1, σ_e = 0.4, Poisson galaxy counts, survey masks
of 10-25 %. Map i has the seed of test sample i of base seed 12345 (``miu2net simulate``'s rule, test
split: never a training or calibration key); its truth is simulated once and observed at every depth
(its own noise and mask per depth, from the same seed). ``nbody``: maps of the plane bank's two test
simulations (never trained on), plus the clusters above 3e14 Msun; ``halo_model``: Gaussian field +
NFW halos; ``gaussian``: the Gaussian field alone (where the Wiener filter is the optimum). Every
method runs on the same maps; ``miu2net:power`` is the same network's power-faithful estimate
(``estimate=power``). The Wiener filter is given the fiducial pyccl C_ell of the survey (Planck 2018,
the true one for the halo-model and Gaussian skies; the N-body test simulations have their own
cosmologies, spread by 10 %) and the noise map. DeepMass has no 0.41' model: it is not run here.

RMSE raw and after smoothing truth and map alike by 1′, 2′ and 4′; peaks at 2′. Writes, per depth,
``benchmarks/results/survey_grid/{truth}_ngal{N}/`` (``native/`` for 128²: metrics.json, metrics.md,
figures), with the empirical coverage of MIU2Net's calibrated 68 and 90 % intervals KAPPA_E ± SIGMA (the
reconstruct output, tiles and all) on the same maps in the method's ``coverage`` entry.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import yaml

from miu2net.config import load_config
from miu2net.evaluate import evaluate, markdown_table, runnable_methods, write_report
from miu2net.sims.dataset import sample_seeds
from miu2net.sims.simulate import apply_survey, simulate_truth, truth_is_periodic

ROOT = Path(__file__).resolve().parent.parent
SEED = 12345
DEFAULT_METHODS = "miu2net,miu2net:power,wiener,mcalens,ks"


def test_config(truth: str, size: int = 256):
    config = load_config(ROOT / "configs" / "sims" / "csst-native.yaml").updated(survey={"map_size": size})
    sim = {"seed": SEED, "truth": "nbody" if truth == "nbody" else "halo_model"}
    if truth == "gaussian":
        sim["halos"] = {"enabled": False}
    return config.updated(sim=sim)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--truth", choices=("nbody", "halo_model", "gaussian"), default="nbody")
    parser.add_argument("--n-gal", default="10,20,50,100", help="comma-separated depths, galaxies/arcmin²")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--size", type=int, default=256, help="map side in 0.41' pixels (256: the survey's grid)")
    parser.add_argument("--methods", default=DEFAULT_METHODS)
    parser.add_argument("--model", default=None, help="the MIU2Net model (default: the shipped one for 0.41')")
    parser.add_argument("--out", type=Path, default=None,
                        help="default benchmarks/results/survey_grid (256²) or benchmarks/results/native (128²)")
    parser.add_argument("--option", action="append", default=[], help="LABEL.KEY=VALUE, repeatable")
    args = parser.parse_args()
    depths = [float(v) for v in args.n_gal.split(",") if v.strip()]
    config = test_config(args.truth, args.size)
    results = args.out or ROOT / "benchmarks" / "results" / ("survey_grid" if args.size == 256 else "native")
    seeds = sample_seeds(config.updated(sim={"n_test": args.n}), "test", args.n)
    start = time.perf_counter()
    truths = [simulate_truth(config, int(seed), split="test")[0].astype(np.float32) for seed in seeds]
    t_truth = time.perf_counter() - start
    periodic = truth_is_periodic(config)
    options: dict = {"ks": {}, "ks:1arcmin": {"smooth_arcmin": 1.0}, "miu2net:power": {"estimate": "power"}}
    if args.model:
        options["miu2net"] = {"model": args.model}
        options["miu2net:power"]["model"] = args.model
    for spec in args.option:
        key, _, value = spec.partition("=")
        label, _, name = key.rpartition(".")
        options.setdefault(label, {})[name] = yaml.safe_load(value)
    wanted = [m.strip() for m in args.methods.split(",") if m.strip()]
    for n_gal in depths:
        depth = config.updated(survey={"n_gal_arcmin2": n_gal})

        def samples():
            for seed, box in zip(seeds, truths):
                yield apply_survey(box.astype(np.float64), depth, int(seed), periodic=periodic)

        first = next(samples())
        usable, skipped = runnable_methods(wanted, first, depth.survey.pixel_arcmin, options)
        start = time.perf_counter()
        report = evaluate(samples(), pixel_arcmin=depth.survey.pixel_arcmin,
                          methods=usable + (["ks:1arcmin"] if "ks" in usable else []), method_options=options,
                          smoothing_arcmin=(1.0, 2.0, 4.0), peak_arcmin=2.0)
        t_eval = time.perf_counter() - start
        coverage = report["methods"].get("miu2net", {}).get("coverage")
        tag = f"{args.truth}_ngal{n_gal:g}"
        command = (f"python benchmarks/native.py --truth {args.truth} --n-gal {args.n_gal} --n {args.n}"
                   + (f" --size {args.size}" if args.size != 256 else "")
                   + (f" --methods {args.methods}" if args.methods != DEFAULT_METHODS else "")
                   + (f" --model {args.model}" if args.model else "") + "".join(f" --option {o}" for o in args.option))
        out = results / tag
        write_report(report, out, meta={"truth": args.truth, "n_gal_arcmin2": n_gal, "seed": SEED,
                                        "pixel_arcmin": depth.survey.pixel_arcmin, "map_size": depth.survey.map_size,
                                        "skipped": skipped, "options": options, "seconds_truths": t_truth,
                                        "seconds_evaluate": t_eval, "coverage": coverage, "command": command})
        print(f"# {tag}: {report['n_maps']} test maps (truths in {t_truth:.0f} s, evaluated in {t_eval:.0f} s)",
              flush=True)
        for name, reason in skipped.items():
            print(f"skipped {name}: {reason}")
        print(markdown_table(report), flush=True)
        if coverage is not None:
            print("coverage of KAPPA_E ± SIGMA:", json.dumps(coverage), flush=True)


if __name__ == "__main__":
    main()
