"""Seconds and peak memory of every method at 256², 1024² and 4096² (0.82′ pixels), the Wiener filter beside
a minimal reference conjugate-gradient solve, in one run.

    python benchmarks/speed_methods.py                       # 256² and 1024², every method + reference
    python benchmarks/speed_methods.py --sizes 4096 --methods ks wiener miu2net --no-reference

The input at each size is one csst-like observation at 0.82′ pixels (4096² = 56° on a side): a Gaussian
field with the pyccl C_ℓ (z_s = 1, :func:`miu2net.physics.wiener.signal_power`) drawn on a box twice the
map's size and cut (so the map is not periodic), a 15 % survey mask, pixel noise for n_gal = 50 arcmin⁻²
and σ_e = 0.4, and a noise map. Each case (method, size) runs in a fresh Python process: it reads the
map, fills the C_ℓ cache and imports the method with a call on a 128² map, then times whole
``miu2net.methods.reconstruct(shear, method)`` calls with default options (wall clock; the data check
CHI2DOF that this call adds is included): the fastest of ``--repeats`` calls (3) up to 1024², one call
above (``seconds_each`` lists them all). The fastest, not the median: on this shared machine other
jobs slowed single calls by up to 4x, which says nothing about the method. Memory: the
process's peak resident set (VmHWM) and its rise during the calls over the resident set before them
(the input map and the interpreter excluded). RMSE against the truth is over all pixels after removing
each map's mean (the mass sheet, :func:`miu2net.stats.metrics.rmse_centred` convention), and over the
interior (more than 1/8 of the side from every edge), where the periodic reference's wrap-around does
not reach.

The reference (``--reference``, on by default) is the minimal Wiener filter below: the same pyccl prior,
mask and noise map, the E-mode posterior mean on the periodic map grid (no padding, no B-mode null
test), conjugate gradients on the whitened field y = S^{-1/2} κ (preconditioned by the prior's square
root only), complex double-precision FFTs (scipy.fft, as the package), stopped at ‖r‖/‖b‖ < 1e-4 (the Wiener filter's own
default tolerance). The package's Wiener filter also computes the B-mode null test (a second right-hand
side) and pads the map; its row also gives its time without the CHI2DOF check that
``miu2net.methods.reconstruct`` adds (a padded KS forward model), the like of what the reference does.

``--tile N`` runs the methods named by ``--tiled`` in tiles of N² (overlap 64 pixels, mass sheets matched
and feathered, :func:`miu2net.tiling.reconstruct_tiled`, Dask threads) at sizes above N, and
says so in the rows. Results merge into benchmarks/results/speed_methods.json (one row per method and
size, each with its command and git commit); a Markdown table of every row is printed. This machine is
shared (2 cores): compare the ratios measured in one run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"
OUT = RESULTS / "speed_methods.json"
METHODS = ("ks", "wiener", "ksplus", "sparse", "mcalens", "miu2net")
PIXEL_ARCMIN = 0.82
TILE_OVERLAP = 64
REFERENCE_TOL = 1e-4


# ----------------------------------------------------------------------------------------------------
# The reference: a minimal Wiener filter (periodic grid, CG preconditioned by S^{1/2})
# ----------------------------------------------------------------------------------------------------
def reference_wiener(g1, g2, mask, noise, pixel_arcmin, cl_of_ell, *, tol=REFERENCE_TOL, max_iter=2000):
    """E-mode Wiener filter on the periodic map grid by CG on y = S^{-1/2} kappa; returns (kappa_E, n_iter).

    Solves (1 + S^{1/2} Re A^† N^{-1} A S^{1/2}) y = S^{1/2} Re A^† N^{-1} d, kappa = S^{1/2} y, with
    A = ifft2 D fft2 (KS93, D = (l1² - l2² + 2i l1 l2)/l², l1 along x), S = C_l / pixel² per DFT mode,
    N^{-1} = 1/noise² on observed pixels and 0 on masked ones; stops at ||r||/||b|| < tol.
    """
    import scipy.fft as sfft

    from miu2net.stats.spectra import ARCMIN_TO_RAD, ell_grid

    ny, nx = g1.shape
    l1, l2 = np.fft.fftfreq(nx)[None, :], np.fft.fftfreq(ny)[:, None]
    l_sq = l1**2 + l2**2
    l_sq[0, 0] = 1.0
    d_hat = (l1**2 - l2**2 + 2j * l1 * l2) / l_sq
    d_hat[0, 0] = 0.0
    ell = ell_grid((ny, nx), pixel_arcmin)
    cl = np.zeros_like(ell)
    cl[ell > 0] = cl_of_ell(ell[ell > 0])
    sqrt_s = np.sqrt(cl) / (pixel_arcmin * ARCMIN_TO_RAD)
    fwd_kernel, adj_kernel = d_hat * sqrt_s, np.conj(d_hat) * sqrt_s
    weight = np.where(mask > 0, 1.0 / noise**2, 0.0)

    def hessian(y):
        shear = sfft.ifft2(fwd_kernel * sfft.fft2(y))
        return y + sfft.ifft2(adj_kernel * sfft.fft2(weight * shear)).real

    b = sfft.ifft2(adj_kernel * sfft.fft2(weight * (g1 + 1j * g2))).real
    y = np.zeros_like(b)
    r = b.copy()
    p = r.copy()
    rr = float(np.vdot(r, r))
    b_norm = math.sqrt(rr)
    n_iter = 0
    while math.sqrt(rr) > tol * b_norm and n_iter < max_iter:
        hp = hessian(p)
        alpha = rr / float(np.vdot(p, hp))
        y += alpha * p
        r -= alpha * hp
        rr_new = float(np.vdot(r, r))
        p = r + (rr_new / rr) * p
        rr = rr_new
        n_iter += 1
    return sfft.ifft2(sqrt_s * sfft.fft2(y)).real, n_iter


# ----------------------------------------------------------------------------------------------------
# Input maps
# ----------------------------------------------------------------------------------------------------
def write_observation(size: int, path: Path, seed: int = 0) -> None:
    """The csst-like observation of the module docstring, with its truth, as an .npz file."""
    from miu2net.physics.wiener import signal_power
    from miu2net.physics.masks import survey_mask
    from miu2net.physics.operators import ks93_forward
    from miu2net.physics.shear import pixel_noise_sigma
    from miu2net.sims.fields import gaussian_field

    rng = np.random.default_rng(seed)
    cl = signal_power(cl_kappa=None, z_source=None, nz=None)[0]
    big = gaussian_field((2 * size, 2 * size), PIXEL_ARCMIN, cl, rng)
    g1, g2 = ks93_forward(big)
    cut = slice(size // 2, size // 2 + size)
    kappa, g1, g2 = big[cut, cut].copy(), g1[cut, cut].copy(), g2[cut, cut].copy()
    del big
    mask = survey_mask((size, size), rng, target_fraction=0.15, pixel_arcmin=PIXEL_ARCMIN)
    sigma = pixel_noise_sigma(shape_noise_sigma=0.4, n_gal_arcmin2=50.0, pixel_arcmin=PIXEL_ARCMIN)
    g1 = ((g1 + sigma * rng.standard_normal((size, size))) * mask).astype(np.float64)
    g2 = ((g2 + sigma * rng.standard_normal((size, size))) * mask).astype(np.float64)
    np.savez(path, g1=g1, g2=g2, mask=mask.astype(np.float64), sigma=sigma, kappa=kappa)


def rss_bytes() -> int:
    """Current resident set of this process (Linux /proc), bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    """Peak resident set of this process since it started (VmHWM; unlike ru_maxrss it does not carry
    the parent's peak across fork and exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# ----------------------------------------------------------------------------------------------------
# One case, in its own process
# ----------------------------------------------------------------------------------------------------
def run_case(method: str, path: str, tile: int | None, repeats: int) -> dict:
    import warnings

    from miu2net.maps import ShearMap
    from miu2net.methods import reconstruct
    from miu2net.physics.wiener import signal_power

    data = np.load(path)
    size = data["g1"].shape[0]
    kappa_true = data["kappa"]
    sigma = float(data["sigma"])
    shear = ShearMap(data["g1"], data["g2"], PIXEL_ARCMIN, mask=data["mask"], noise=np.full((size, size), sigma))
    cl = signal_power(cl_kappa=None, z_source=None, nz=None)[0]  # fills the per-process C_l cache
    small = ShearMap(shear.g1[:128, :128], shear.g2[:128, :128], PIXEL_ARCMIN, mask=shear.mask[:128, :128],
                     noise=shear.noise[:128, :128])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if method == "reference":
            reference_wiener(small.g1, small.g2, small.mask, small.noise, PIXEL_ARCMIN, cl, tol=1e-2)
        else:
            reconstruct(small, method)  # imports, model load caches, FFT plans
    extra = {}
    before = rss_bytes()

    def call():
        if method == "reference":
            kappa_e, n_iter = reference_wiener(shear.g1, shear.g2, shear.mask, shear.noise, PIXEL_ARCMIN, cl)
            return kappa_e, {"n_iter": n_iter}
        if tile is not None and tile < size:
            from miu2net.tiling import reconstruct_tiled

            out = reconstruct_tiled(shear, lambda s: reconstruct(s, method), tile=tile, overlap=TILE_OVERLAP)
            return out.kappa_e, {"tiles": out.meta["tiling"]}
        out = reconstruct(shear, method)
        info = {key: out.meta[key] for key in ("n_iter", "cg_iterations", "converged") if key in out.meta}
        if "padded_shape" in out.meta.get("options", {}):
            info["padded_shape"] = out.meta["options"]["padded_shape"]
        return out.kappa_e, info

    times = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(repeats):
            start = time.perf_counter()
            kappa_e, extra = call()
            times.append(time.perf_counter() - start)
    seconds = float(np.min(times))
    if method == "wiener":  # the solve alone, as the reference is timed: without the CHI2DOF data check
        from miu2net.methods import get_method

        solve_times = []
        for _ in range(repeats):
            start = time.perf_counter()
            get_method("wiener")(shear)
            solve_times.append(time.perf_counter() - start)
        extra["seconds_without_chi2"] = float(np.min(solve_times))
    peak = peak_rss_bytes()
    shape_ok = kappa_e.shape == kappa_true.shape
    err = kappa_e - kappa_e.mean() - (kappa_true - kappa_true.mean())
    band = size // 8
    inner = err[band:-band, band:-band] if shape_ok else None
    return {
        "method": method, "size": size, "seconds": seconds, "seconds_each": times, "peak_rss_mb": peak / 2**20,
        "rise_mb": max(peak - before, 0) / 2**20, "rmse": float(np.sqrt(np.mean(err**2))) if shape_ok else None,
        "rmse_interior": float(np.sqrt(np.mean(inner**2))) if shape_ok else None,
        "warnings": sorted({str(w.message)[:120] for w in caught}), **extra,
    }


# ----------------------------------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------------------------------
def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=Path(__file__).parent, check=False).stdout.strip()
        return out + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def table(rows: list[dict]) -> str:
    by_key = {(r["method"], r["size"]): r for r in rows}
    lines = ["| method | size | seconds | × its 256² time | peak RSS [MB] | rise in the call [MB] | RMSE | RMSE interior | notes |",
             "|---|---|---|---|---|---|---|---|---|"]
    order = {m: i for i, m in enumerate(("ks", "wiener", "reference") + METHODS[2:])}
    for r in sorted(rows, key=lambda r: (order.get(r["method"], 99), r["size"])):
        base = by_key.get((r["method"], 256))
        ratio = f"{r['seconds'] / base['seconds']:.1f}" if base else ""
        notes = []
        if "n_iter" in r:
            notes.append(f"{r['n_iter']} iterations")
        if "seconds_without_chi2" in r:
            notes.append(f"{r['seconds_without_chi2']:.2f} s without the CHI2DOF check")
        if "tiles" in r:
            notes.append(f"{r['tiles']['n_tiles']} tiles of {r['tiles']['tile']}², overlap {r['tiles']['overlap']}")
        if r.get("warnings"):
            notes.append("warned: " + "; ".join(r["warnings"]))
        rmse = "" if r["rmse"] is None else f"{r['rmse']:.5f} | {r['rmse_interior']:.5f}"
        lines.append(f"| {r['method']} | {r['size']}² | {r['seconds']:.2f} | {ratio} | {r['peak_rss_mb']:.0f} | "
                     f"{r['rise_mb']:.0f} | {rmse} | {', '.join(notes)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--no-reference", dest="reference", action="store_false")
    parser.add_argument("--tile", type=int, default=None, help="tile side (pixels) for the --tiled methods")
    parser.add_argument("--tiled", nargs="*", default=["ksplus", "sparse", "mcalens"])
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per case up to 1024² (one above)")
    parser.add_argument("--case", nargs=4, metavar=("METHOD", "NPZ", "TILE", "REPEATS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        method, path, tile, repeats = args.case
        print(json.dumps(run_case(method, path, None if tile == "none" else int(tile), int(repeats))))
        return
    command = "python benchmarks/speed_methods.py " + " ".join(sys.argv[1:])
    commit = git_commit()
    record = json.loads(OUT.read_text()) if OUT.exists() else {}
    rows = [r for r in record.get("rows", []) if "size" in r]
    new_rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for size in args.sizes:
            paths[size] = Path(tmp) / f"obs{size}.npz"
            write_observation(size, paths[size])
        names = list(args.methods) + (["reference"] if args.reference else [])
        # one method at every size in a row, so that the ratios compare runs close in time
        for name in names:
            for size in args.sizes:
                tile = args.tile if (args.tile and name in args.tiled and size > args.tile) else None
                repeats = args.repeats if size <= 1024 else 1
                proc = subprocess.run([sys.executable, __file__, "--case", name, str(paths[size]), str(tile or "none"),
                                       str(repeats)], capture_output=True, text=True, check=False)
                if proc.returncode != 0:
                    print(f"{name} {size}²: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
                    continue
                row = json.loads(proc.stdout.strip().splitlines()[-1])
                row.update(command=command, commit=commit, load_average_1min=os.getloadavg()[0])
                new_rows.append(row)
                print(f"{name} {size}²: {row['seconds']:.2f} s, peak {row['peak_rss_mb']:.0f} MB, "
                      f"RMSE {row['rmse']}", flush=True)
    keys = {(r["method"], r["size"]) for r in new_rows}
    rows = [r for r in rows if (r["method"], r["size"]) not in keys] + new_rows
    RESULTS.mkdir(exist_ok=True)
    record = {
        "benchmark": "speed_methods", "pixel_arcmin": PIXEL_ARCMIN, "reference_tol": REFERENCE_TOL,
        "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
        "note": "shared machine: compare ratios measured in one run (rows carry their command and commit)",
        "rows": rows,
    }
    OUT.write_text(json.dumps(record, indent=2))
    print()
    print(table(rows))
    print(f"\n{command}  (commit {commit}; load average now {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
