"""Simulation speed: maps per second for 256² csst maps, in one process and with Dask (1 vs 2 workers).

    python benchmarks/sims_speed.py [--n 40] [--preset csst]

Writes benchmarks/results/sims_speed.json. "wall" rates include the Dask cluster start-up and each worker's
one-off set-up (CAMB, the halo-population tables: a few seconds); "steady" rates are measured between the
first and the last sample written (from the store's completion-flag timestamps). Numbers depend on the
machine and on what else runs on it; the CPU count is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from miu2net import __version__
from miu2net.config import preset
from miu2net.sims.dataset import create_dataset
from miu2net.sims.simulate import apply_survey, simulate_sample, simulate_truth

RESULTS = Path(__file__).parent / "results"


def single_process(config, n: int) -> dict:
    simulate_sample(config, 10_000)  # warm-up: CAMB, tables
    t0 = time.perf_counter()
    for s in range(n):
        simulate_sample(config, s)
    total = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    boxes = [simulate_truth(config, s)[0] for s in range(n)]
    truth = (time.perf_counter() - t0) / n
    no_halos = config.updated(sim={"halos": {"enabled": False}})
    simulate_truth(no_halos, 10_000)
    t0 = time.perf_counter()
    for s in range(n):
        simulate_truth(no_halos, s)
    field = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    for s, box in enumerate(boxes):
        apply_survey(box, config, s, periodic=True)
    survey = (time.perf_counter() - t0) / n
    return {"seconds_per_map": total, "maps_per_second": 1 / total, "truth_seconds": truth,
            "field_only_seconds": field, "survey_effects_seconds": survey}


def dask_run(config, workers: int, n: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "speed.zarr"
        cfg = config.updated(sim={"n_samples": n, "n_test": 0})
        t0 = time.perf_counter()
        report = create_dataset(out, cfg, workers=workers, batch_size=2, progress=False)
        wall = time.perf_counter() - t0
        stamps = sorted(p.stat().st_mtime for split in ("train", "val") for p in (out / split / "done" / "c").glob("*"))
    steady = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 and stamps[-1] > stamps[0] else float("nan")
    return {"workers": workers, "maps": report.generated, "wall_seconds": wall, "wall_maps_per_second": report.generated / wall,
            "steady_maps_per_second": steady}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=40, help="maps per Dask run")
    parser.add_argument("--preset", default="csst")
    args = parser.parse_args()
    config = preset(args.preset)
    s = config.survey
    print(f"miu2net {__version__}: simulation speed, preset {args.preset} ({s.map_size}² x {s.pixel_arcmin}', "
          f"box x{config.sim.box_factor}, {config.sim.field} field + halos), {os.cpu_count()} CPUs ({platform.processor() or platform.machine()})")
    single = single_process(config, 12)
    print(f"  one process: {single['seconds_per_map'] * 1e3:.0f} ms per map ({single['maps_per_second']:.2f} maps/s): "
          f"truth {single['truth_seconds'] * 1e3:.0f} ms (field alone {single['field_only_seconds'] * 1e3:.0f} ms), "
          f"survey effects {single['survey_effects_seconds'] * 1e3:.0f} ms")
    runs = [dask_run(config, w, args.n) for w in (1, 2)]
    for r in runs:
        print(f"  Dask, {r['workers']} worker(s): {r['maps']} maps in {r['wall_seconds']:.1f} s wall "
              f"({r['wall_maps_per_second']:.2f} maps/s incl. start-up), steady {r['steady_maps_per_second']:.2f} maps/s")
    speedup = runs[1]["steady_maps_per_second"] / runs[0]["steady_maps_per_second"]
    print(f"  2 vs 1 worker speed-up (steady): {speedup:.2f}x")
    RESULTS.mkdir(exist_ok=True)
    result = {"version": __version__, "preset": args.preset, "cpus": os.cpu_count(), "single_process": single,
              "dask": runs, "speedup_2_vs_1": speedup}
    (RESULTS / "sims_speed.json").write_text(json.dumps(result, indent=2))
    print(f"  written {RESULTS / 'sims_speed.json'}")


if __name__ == "__main__":
    main()
