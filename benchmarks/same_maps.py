"""The same reconstructions from two source trees must be the same maps, bit for bit (a refactor's check).

Usage (``benchmarks/results/same_maps.json`` came from)::

    git worktree add --detach /tmp/before 0c28251
    python benchmarks/same_maps.py --before /tmp/before --out benchmarks/results/same_maps.json

Each method reconstructs the bundled example catalogue with noise realisations, once with ``PYTHONPATH``
at the other tree's ``src`` and once with this tree's; every image HDU is compared with ``array_equal``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from astropy.io import fits

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "merging_pair_catalogue.fits"


def _commit(tree: Path) -> str:
    return subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()


def _run(tree: Path, method: str, out: Path, noise: int) -> str:
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    result = subprocess.run([sys.executable, "-m", "miu2net", "reconstruct", str(EXAMPLE), "--method", method,
                             "--noise-realisations", str(noise), "-o", str(out)],
                            cwd=tree, env=env, capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise SystemExit(f"{tree} {method}: {result.stderr.strip().splitlines()[-1]}")
    return result.stderr.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the other source tree (a git worktree)")
    parser.add_argument("--methods", default="auto,ks,wiener,mcalens")
    parser.add_argument("--noise-realisations", type=int, default=4)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "same_maps.json")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for method in args.methods.split(","):
            paths = {}
            for label, tree in (("before", args.before.resolve()), ("after", ROOT)):
                paths[label] = Path(tmp) / f"{label}_{method}.fits"
                _run(tree, method, paths[label], args.noise_realisations)
            with fits.open(paths["before"]) as a, fits.open(paths["after"]) as b:
                names = [h.name for h in a if h.data is not None]
                differ = {n: float(np.nanmax(np.abs(a[n].data - b[n].data))) for n in names
                          if not np.array_equal(a[n].data, b[n].data, equal_nan=True)}
                rows.append({"method": method, "hdus": names, "same_hdus": names == [h.name for h in b
                                                                                  if h.data is not None],
                             "identical": not differ, "max_abs_difference": differ})
            print(rows[-1], flush=True)
    report = {"command": "python benchmarks/same_maps.py --before TREE " + " ".join(sys.argv[3:]),
              "before": _commit(args.before), "after": _commit(ROOT), "input": str(EXAMPLE.relative_to(ROOT)),
              "noise_realisations": args.noise_realisations, "results": rows}
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
