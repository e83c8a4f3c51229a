"""Seconds per map of Kaiser-Squires, ours beside lenspack's ks93, measured in the same run.

    python benchmarks/speed.py [--repeats 20]

Writes benchmarks/results/speed.json and prints a Markdown table. Times are the median over repeats
of one inversion (wall clock); compare the ratios, since this machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from miu2net import __version__
from miu2net.maps import ShearMap
from miu2net.methods import ks

RESULTS = Path(__file__).parent / "results"


def median_seconds(func, repeats: int) -> float:
    func()  # warm-up (FFT plans, imports)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    from lenspack.image.inversion import ks93 as lenspack_ks93

    rng = np.random.default_rng(0)
    rows = []
    for n in (256, 1024):
        g1, g2 = 0.05 * rng.standard_normal((2, n, n))
        shear = ShearMap(g1=g1, g2=g2, pixel_arcmin=0.41)
        t_lenspack = median_seconds(lambda: lenspack_ks93(g1, g2), args.repeats)
        t_plain = median_seconds(lambda: ks.reconstruct(shear, pad=False), args.repeats)
        t_padded = median_seconds(lambda: ks.reconstruct(shear, pad=True), args.repeats)
        rows.append({"size": n, "lenspack_ks93_s": t_lenspack, "miu2net_ks_s": t_plain,
                     "miu2net_ks_padded_s": t_padded, "ratio_ks_to_lenspack": t_plain / t_lenspack,
                     "ratio_padded_to_lenspack": t_padded / t_lenspack})
    RESULTS.mkdir(exist_ok=True)
    record = {"benchmark": "ks_speed", "version": __version__, "machine": platform.processor() or platform.machine(),
              "repeats": args.repeats, "rows": rows}
    (RESULTS / "speed.json").write_text(json.dumps(record, indent=2))
    print("| map | lenspack ks93 [s] | miu2net ks [s] (ratio) | miu2net ks, zero-padded [s] (ratio) |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['size']}² | {r['lenspack_ks93_s']:.4f} | {r['miu2net_ks_s']:.4f} ({r['ratio_ks_to_lenspack']:.2f}) "
              f"| {r['miu2net_ks_padded_s']:.4f} ({r['ratio_padded_to_lenspack']:.2f}) |")


if __name__ == "__main__":
    main()
