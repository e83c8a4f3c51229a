"""Wall time of one whole `miu2net reconstruct` process on a 128² map, this tree beside an older commit.

    python benchmarks/reconstruct_time.py [--ref 692d894] [--repeat 5]

Makes one csst-small map (128² pixels of 0.82', seed 7) as gridded shear, then times complete CLI
processes (start-up, imports, model loading, reconstruction, writing the FITS file) with the default
method (`auto`: the shipped MIU2Net) and with `--method wiener`, for this working tree and for the
commit ``--ref`` (checked out into a temporary git worktree), the runs interleaved so that the
machine's load affects all alike. Reports the median and the spread of each, and the ratios measured
in this one run. Writes ``results/reconstruct_time.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from miu2net.config import preset
from miu2net.io import default_wcs, write_shear_map
from miu2net.maps import ShearMap
from miu2net.sims.simulate import simulate_sample

ROOT = Path(__file__).resolve().parents[1]


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


def _input_map(path: Path) -> Path:
    sample = simulate_sample(preset("csst-small"), 7)
    n = sample["g1"].shape[0]
    shear = ShearMap(g1=sample["g1"], g2=sample["g2"], mask=sample["mask"],
                     noise=np.where(sample["mask"] > 0, sample["noise"], np.inf), pixel_arcmin=0.82,
                     wcs=default_wcs((n, n), 0.82, (150.0, 2.0)))
    return write_shear_map(shear, path)


def _run(src: Path, shear: Path, out: Path, method: str | None) -> float:
    cmd = [sys.executable, "-m", "miu2net", "reconstruct", str(shear), "-o", str(out)]
    cmd += ["--method", method] if method else []
    env = {**os.environ, "PYTHONPATH": str(src)}
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="692d894", help="the older commit to compare with")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "reconstruct_time.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ref_tree = tmp / "ref"
        _git("worktree", "add", "--detach", str(ref_tree), args.ref)
        try:
            shear = _input_map(tmp / "shear.fits")
            trees = {"this tree": ROOT / "src", f"commit {args.ref}": ref_tree / "src"}
            cases = [(tree, method) for tree in trees for method in (None, "wiener")]
            times: dict[tuple[str, str | None], list[float]] = {case: [] for case in cases}
            for case in cases:  # a warm-up run each: file caches, compiled bytecode
                _run(trees[case[0]], shear, tmp / "warm.fits", case[1])
            for _ in range(args.repeat):
                for case in cases:
                    times[case].append(_run(trees[case[0]], shear, tmp / "kappa.fits", case[1]))
        finally:
            _git("worktree", "remove", "--force", str(ref_tree))
    rows = []
    for (tree, method), values in times.items():
        rows.append({"tree": tree, "method": method or "auto (shipped MIU2Net)", "median_s": statistics.median(values),
                     "min_s": min(values), "max_s": max(values), "runs": values})
    med = {(r["tree"], r["method"]): r["median_s"] for r in rows}
    this, ref = "this tree", f"commit {args.ref}"
    ratios = {"miu2net this / ref": med[(this, "auto (shipped MIU2Net)")] / med[(ref, "auto (shipped MIU2Net)")],
              "miu2net / wiener, this tree": med[(this, "auto (shipped MIU2Net)")] / med[(this, "wiener")],
              "miu2net / wiener, ref": med[(ref, "auto (shipped MIU2Net)")] / med[(ref, "wiener")]}
    result = {"command": f"python benchmarks/reconstruct_time.py --ref {args.ref} --repeat {args.repeat}",
              "commit": _git("rev-parse", "--short", "HEAD"), "map": "csst-small 128x128 at 0.82', seed 7",
              "rows": rows, "ratios": ratios}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("| tree | method | median [s] | min–max [s] |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['tree']} | {r['method']} | {r['median_s']:.2f} | {r['min_s']:.2f}–{r['max_s']:.2f} |")
    for name, value in ratios.items():
        print(f"{name}: {value:.2f}")


if __name__ == "__main__":
    main()
