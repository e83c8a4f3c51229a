"""Train the shipped models and their controls side by side on one machine, on a wall-clock budget.

    python benchmarks/train_models.py --out runs --minutes 6.5 [--runs miu2net-csst-quick:7 deepmass-csst-quick:3 ...]
    python benchmarks/train_models.py --measure     # simulation time per streamed map, 1 and 8 views per truth

Every run is a plain ``miu2net train --config configs/train/NAME.yaml`` (so anyone can retrain one by
hand); this script only shares the machine between them. Training streams freshly simulated maps
(``stream`` in the configs), so the CPU cores that simulate are the budget, not the GPU: each run gets
a number of data-loader workers (``NAME:WORKERS``), and its steps per epoch are sized so that the run
ends within ``--minutes``, from the simulation speed measured here at the start (one process, the
configs' ``views_per_truth``) times the workers and ``--efficiency`` (contention between processes).
Lightning's ``max_time`` stops a run that is slower than planned, keeping its best weights.

Runs with the same workers and configs that differ only in depth ranges get the same steps: the
single-depth controls and the stream control of issue #10 are trained on the same budget.

1. ``OUT/val.zarr``: the validation store (``miu2net simulate --preset csst-small``; resumed, or left as
   it is, when there).
2. The runs, in parallel, each in ``OUT/NAME`` (log ``OUT/NAME.log``).
3. ``OUT/summary.json``: per run the planned steps, the exit code, the wall time and the exported
   model's validation metrics.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs" / "train"
DEFAULT_RUNS = ["miu2net-csst-quick:7", "deepmass-csst-quick:3", "u2net-stream-control:2",
                "u2net-single-depth-n20:2", "u2net-single-depth-n50:2"]


def _cli() -> list[str]:
    return [sys.executable, "-m", "miu2net"]


def seconds_per_sample(preset: str, views_per_truth: int, n: int = 16) -> float:
    """Wall time of one streamed sample in this process (after a warm-up that fills the caches)."""
    from miu2net.config import preset as get_preset
    from miu2net.nn.streaming import StreamingSimDataset

    stream = StreamingSimDataset(get_preset(preset), length=n + views_per_truth, views_per_truth=views_per_truth,
                                 seed=12345)
    for i in range(views_per_truth):
        stream[i]
    start = time.perf_counter()
    for i in range(views_per_truth, views_per_truth + n):
        stream[i]
    return (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="folder of the runs")
    parser.add_argument("--minutes", type=float, help="wall-clock budget of the training runs")
    parser.add_argument("--measure", action="store_true",
                        help="only print the simulation time of a streamed map, one truth per map and as the configs")
    parser.add_argument("--runs", nargs="+", default=DEFAULT_RUNS, help="NAME:WORKERS, NAME a configs/train/*.yaml")
    parser.add_argument("--preset", default="csst-small", help="simulation preset of the validation store")
    parser.add_argument("--val-n", type=int, default=384, help="--n of the validation store (1/6 of it validates)")
    parser.add_argument("--sim-workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    parser.add_argument("--efficiency", type=float, default=0.7, help="share of the single-process speed per worker")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="flags passed on to every train")
    args = parser.parse_args()
    runs = []
    for spec in args.runs:
        name, _, workers = spec.partition(":")
        config = CONFIGS / f"{name}.yaml"
        if not config.is_file():
            parser.error(f"no configuration {config} for run {name!r}; choose from "
                         f"{', '.join(sorted(p.stem for p in CONFIGS.glob('*.yaml')))}")
        train = (yaml.safe_load(config.read_text()) or {}).get("train", {})
        views = int((train.get("stream") or {}).get("views_per_truth", 1))
        runs.append({"name": name, "config": config, "workers": int(workers or 1), "views": views,
                     "batch": int(train.get("batch_size", 16)), "epochs": int(train.get("epochs", 50))})
    if args.measure:
        for v in sorted({1} | {r["views"] for r in runs}):
            print(f"views_per_truth {v}: {seconds_per_sample(args.preset, v):.3f} s per streamed map (one process)")
        return
    if args.out is None or args.minutes is None:
        parser.error("give --out and --minutes (or --measure)")

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    val = out / "val.zarr"
    t0 = time.perf_counter()
    subprocess.run([*_cli(), "simulate", "--preset", args.preset, "--n", str(args.val_n), "--n-test", "0",
                    "--out", str(val), "--workers", str(args.sim_workers)], check=True, env=env)  # resumes
    print(f"validation store ready after {time.perf_counter() - t0:.0f} s", flush=True)

    rates = {v: seconds_per_sample(args.preset, v) for v in sorted({r["views"] for r in runs})}
    print("seconds per streamed sample (one process): "
          + ", ".join(f"views {v}: {s:.3f}" for v, s in rates.items()), flush=True)

    train_seconds = args.minutes * 60.0
    procs = []
    for run in runs:
        samples = run["workers"] * args.efficiency / rates[run["views"]] * train_seconds
        run["steps_per_epoch"] = max(1, int(samples / run["batch"] / run["epochs"]))
        cmd = [*_cli(), "train", "--config", str(run["config"]), "--data", str(val), "--out", str(out / run["name"]),
               "--workers", str(run["workers"]), "--steps-per-epoch", str(run["steps_per_epoch"]),
               "--max-time-minutes", f"{args.minutes + 0.5:g}", "--no-progress", *args.extra]
        if (out / run["name"] / "checkpoints" / "last.ckpt").exists():
            cmd.append("--resume")
        print(f"{run['name']}: {run['workers']} workers, {run['epochs']} x {run['steps_per_epoch']} steps "
              f"of {run['batch']}", flush=True)
        log = open(out / f"{run['name']}.log", "w")
        procs.append((run, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), log, time.perf_counter()))

    summary = []
    for run, proc, log, start in procs:
        code = proc.wait()
        log.close()
        entry = {k: (str(v) if isinstance(v, Path) else v) for k, v in run.items()}
        entry.update(exit_code=code, wall_s=round(time.perf_counter() - start, 1))
        model_json = out / run["name"] / "model.json"
        if code == 0 and model_json.exists():
            entry["metrics"] = json.loads(model_json.read_text()).get("metrics")
        summary.append(entry)
        print(f"{run['name']}: exit {code} after {entry['wall_s']} s; "
              f"{json.dumps(entry.get('metrics'))}", flush=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if any(e["exit_code"] != 0 for e in summary):
        sys.exit(1)


if __name__ == "__main__":
    main()
