"""Seconds per 256² map of every classical method (ks, wiener, ksplus, sparse, mcalens), in the same run.

    python benchmarks/speed_methods.py [--repeats 3] [--size 256]

The input is one csst-like observation (DESIGN.md): a Gaussian field from the pyccl C_ell (z_s = 1) cut
from a box four times larger, a 15 % survey mask, pixel noise for n_gal = 50 arcmin⁻² and sigma_e = 0.4
at 0.41 arcmin pixels; each method runs with its default options (KS zero-padded, unsmoothed). Times
are the median over repeats of one full reconstruction (wall clock, after one warm-up call that also
fills the C_ell cache); the iterative methods' iteration counts are recorded beside them. Writes
benchmarks/results/speed_methods.json and prints a Markdown table with the ratio to KS. This machine is
shared: the load average is recorded, compare ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from miu2net import __version__
from miu2net.maps import ShearMap
from miu2net.methods import get_method
from miu2net.methods.wiener import signal_power
from miu2net.physics.masks import survey_mask
from miu2net.physics.operators import ks93_forward
from miu2net.physics.shear import pixel_noise_sigma
from miu2net.sims.fields import gaussian_field

RESULTS = Path(__file__).parent / "results"
METHODS = ("ks", "wiener", "ksplus", "sparse", "mcalens")
PIXEL_ARCMIN = 0.41


def observation(size: int) -> ShearMap:
    rng = np.random.default_rng(0)
    cl = signal_power(cl_kappa=None, z_source=None, nz=None)[0]
    big = gaussian_field((4 * size, 4 * size), PIXEL_ARCMIN, cl, rng)
    g1, g2 = ks93_forward(big)
    cut = slice(3 * size // 2, 5 * size // 2)
    mask = survey_mask((size, size), rng, target_fraction=0.15, pixel_arcmin=PIXEL_ARCMIN)
    sigma = pixel_noise_sigma(shape_noise_sigma=0.4, n_gal_arcmin2=50.0, pixel_arcmin=PIXEL_ARCMIN)
    noise = sigma * rng.standard_normal((2, size, size))
    return ShearMap(
        (g1[cut, cut] + noise[0]) * mask, (g2[cut, cut] + noise[1]) * mask, PIXEL_ARCMIN,
        mask=mask, noise=np.full((size, size), sigma),
    )


def median_seconds(func, repeats: int) -> tuple[float, object]:
    result = func()  # warm-up (FFT plans, imports, the C_ell table)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    shear = observation(args.size)
    rows = []
    for name in METHODS:
        method = get_method(name)
        seconds, out = median_seconds(lambda method=method: method(shear), args.repeats)
        rows.append({"method": name, "seconds": seconds, "n_iter": out.meta.get("n_iter"),
                     "converged": out.meta.get("converged")})
    ks_seconds = rows[0]["seconds"]
    for row in rows:
        row["ratio_to_ks"] = row["seconds"] / ks_seconds
    RESULTS.mkdir(exist_ok=True)
    record = {
        "benchmark": "speed_methods", "version": __version__, "size": args.size, "pixel_arcmin": PIXEL_ARCMIN,
        "repeats": args.repeats, "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0], "rows": rows,
    }
    (RESULTS / "speed_methods.json").write_text(json.dumps(record, indent=2))
    print(f"| method ({args.size}², {PIXEL_ARCMIN}′ pixels) | seconds per map | ratio to KS | iterations |")
    print("|---|---|---|---|")
    for r in rows:
        iters = "" if r["n_iter"] is None else str(r["n_iter"])
        print(f"| {r['method']} | {r['seconds']:.3f} | {r['ratio_to_ks']:.0f} | {iters} |")
    print(f"\nload average (1 min) during the run: {record['load_average_1min']:.2f} on {record['cpus']} CPUs")


if __name__ == "__main__":
    main()
