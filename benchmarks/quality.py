"""The whole benchmark protocol from a fixed seed: simulate the held-out test set, then evaluate.

    python benchmarks/quality.py [--preset csst] [--n 500] [--methods wiener,mcalens,sparse,ksplus,ks]
                                 [--truth halo_model|nbody] [--n-gal 20] [--out benchmarks/results/quality_csst]

With ``--truth nbody`` the test maps come from the plane bank's test simulations (never used by a
training set), simulated first if missing (a few CPU minutes each).

Equivalent to the two commands

    miu2net simulate --preset csst --n 6 --n-test 500 --seed 12345 --out DATA.zarr
    miu2net evaluate --data DATA.zarr --n 500 --out OUT --option ks.smooth_arcmin=1.0 ...

The test split's seeds derive from the base seed 12345 and never meet a training seed. Methods that
cannot run here (e.g. a network with no trained model for this configuration) are skipped and listed in
metrics.json under meta.skipped. KS is run twice: raw and smoothed by 1' (the usual way it is used).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import yaml
from rich.progress import Progress

from miu2net.config import preset
from miu2net.evaluate import evaluate, markdown_table, runnable_methods, write_report
from miu2net.sims.dataset import SimDataset, create_dataset

SEED = 12345
DEFAULT_METHODS = "miu2net,deepmass,wiener,mcalens,sparse,ksplus,ks"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="csst")
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--methods", default=DEFAULT_METHODS)
    parser.add_argument("--data", type=Path, default=None, help="store to (re)use; default under /tmp")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--truth", choices=("halo_model", "nbody"), default="halo_model",
                        help="test maps from the halo model or from N-body lens planes (the bank's test simulations)")
    parser.add_argument("--n-gal", type=float, default=None, help="galaxies per arcmin² (default: the preset's)")
    parser.add_argument("--option", action="append", default=[],
                        help="LABEL.KEY=VALUE for a method or a label of one (e.g. miu2net:sym.symmetrise=true "
                             "with --methods miu2net:sym); repeatable")
    args = parser.parse_args()
    tag = args.preset + ("_nbody" if args.truth == "nbody" else "") + (f"_ngal{args.n_gal:g}" if args.n_gal else "")
    out = args.out or Path(__file__).parent / "results" / f"quality_{tag}"
    data = args.data or Path("/tmp") / f"miu2net_quality_{tag}_{args.n}.zarr"
    config = preset(args.preset).updated(sim={"n_samples": 6, "n_test": args.n, "seed": SEED, "truth": args.truth})
    if args.n_gal:
        config = config.updated(survey={"n_gal_arcmin2": args.n_gal})
    start = time.perf_counter()
    create_dataset(data, config, workers=args.workers)
    t_sim = time.perf_counter() - start
    test = SimDataset(data, "test", fields=("kappa", "g1", "g2", "mask", "noise"))
    options = {"ks": {}, "ks:1arcmin": {"smooth_arcmin": 1.0}}
    for spec in args.option:
        key, _, value = spec.partition("=")
        label, _, name = key.rpartition(".")
        if not label or not name or not value:
            parser.error(f"--option expects LABEL.KEY=VALUE; got {spec!r}")
        options.setdefault(label, {})[name] = yaml.safe_load(value)
    wanted = [m.strip() for m in args.methods.split(",") if m.strip()]
    usable, skipped = runnable_methods(wanted, test[0], test.pixel_arcmin, options)
    start = time.perf_counter()
    with Progress(transient=True) as bar:
        task = bar.add_task("evaluating", total=len(test))
        report = evaluate((test[i] for i in range(len(test))), pixel_arcmin=test.pixel_arcmin,
                          methods=usable + (["ks:1arcmin"] if "ks" in usable else []), method_options=options,
                          progress=lambda done: bar.update(task, completed=done))
    t_eval = time.perf_counter() - start
    write_report(report, out, meta={"preset": args.preset, "seed": SEED, "data": str(data), "skipped": skipped,
                                    "options": options, "seconds_simulate": t_sim, "seconds_evaluate": t_eval,
                                    "truth": args.truth, "n_gal_arcmin2": config.survey.n_gal_arcmin2,
                                    "command": f"python benchmarks/quality.py --preset {args.preset} --n {args.n}"
                                               + (" --truth nbody" if args.truth == "nbody" else "")
                                               + (f" --n-gal {args.n_gal:g}" if args.n_gal else "")
                                               + (f" --methods {args.methods}" if args.methods != DEFAULT_METHODS else "")
                                               + "".join(f" --option {o}" for o in args.option)})
    print(f"# {args.preset}: {report['n_maps']} test maps (simulated in {t_sim:.0f} s, evaluated in {t_eval:.0f} s)")
    for name, reason in skipped.items():
        print(f"skipped {name}: {reason}")
    print(markdown_table(report))


if __name__ == "__main__":
    main()
