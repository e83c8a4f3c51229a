r"""Mass maps of thousands of square degrees on this machine: time, peak memory and quality per method.

Usage (``benchmarks/results/sphere/`` came from)::

    python benchmarks/sphere.py make --area 1000 --n-gal 10 --out ~/.cache/miu2net/sphere/cat1000.parquet
    python benchmarks/sphere.py run --catalogue ~/.cache/miu2net/sphere/cat1000.parquet \
        --methods ks,wiener --nside 1024 --out benchmarks/results/sphere/area1000.json
    python benchmarks/sphere.py patches --catalogue ~/.cache/miu2net/sphere/cat1000.parquet \
        --methods miu2net,ks,mcalens --area 30 --out benchmarks/results/sphere/patches.json
    python benchmarks/sphere.py table

``make`` draws the truth: a Gaussian convergence field of the pyccl :math:`C_\ell` (Planck 2018, sources
at z = 1) by ``healpy.synfast`` at NSIDE 2048 (1.7′ pixels), its shear by the spherical KS forward
operator, galaxies uniform in a spherical cap of ``--area`` deg² at ``--n-gal`` per arcmin², each with the
reduced shear of its position and a Gaussian intrinsic ellipticity (``--shape-noise``, 0.26 per component;
0 for a noiseless catalogue that shows the geometry alone) composed with it;
written as Parquet in row groups of 10⁶, with the truth map beside it (``.truth.fits``).

``run`` reconstructs it with each method through the command line (``miu2net reconstruct --healpix``,
a local Dask cluster of two workers) and records the wall time, the peak resident memory of the
command and its workers, the RMSE against the truth degraded to the output NSIDE (pixels of the
footprint at least 3° (a third of the cap's radius, if less) from its edge), the E-mode pseudo-C_ℓ ratio to the truth's on the same pixels,
and the B-mode power against the E-mode's. ``patches`` does the same for flat methods on a sub-cap of
``--area`` deg² (the cost per square degree of patch methods, which grows linearly), ``table`` writes
``summary.md`` from the JSON files.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "sphere"
CENTRE = (40.0, -30.0)
SIGMA_E1 = 0.26  # per component
TRUTH_NSIDE = 2048


def cap_radius_deg(area_deg2: float) -> float:
    return float(np.degrees(np.arccos(1.0 - area_deg2 / (2 * np.pi * (180 / np.pi) ** 2))))


def make(args: argparse.Namespace) -> None:
    import healpy as hp
    import pyarrow as pa
    import pyarrow.parquet as pq

    from miu2net.physics.wiener import signal_power
    from miu2net.sphere.harmonic import kappa_alm_to_shear

    out = Path(args.out).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    cl_of_ell, _ = signal_power(cl_kappa=None, z_source=1.0, nz=None)
    lmax = 2 * TRUTH_NSIDE
    ell = np.arange(lmax + 1)
    cl = np.where(ell >= 2, cl_of_ell(np.maximum(ell, 2)), 0.0)
    np.random.seed(args.seed)
    alm = hp.synalm(cl, lmax=lmax, new=True)
    kappa = hp.alm2map(alm, TRUTH_NSIDE, lmax=lmax)
    gamma1, gamma2 = kappa_alm_to_shear(alm, TRUTH_NSIDE, lmax)
    del alm
    hp.write_map(str(out.with_suffix(".truth.fits")), kappa, overwrite=True, dtype=np.float32)
    radius = np.radians(cap_radius_deg(args.area))
    n_total = int(round(args.n_gal * args.area * 3600))
    rng = np.random.default_rng(args.seed)
    centre = hp.ang2vec(*CENTRE, lonlat=True)
    writer = None
    written, started = 0, time.perf_counter()
    while written < n_total:
        n = min(1_000_000, n_total - written)
        # uniform on the sphere in a box around the cap, kept inside the cap
        half_ra = min(180.0, np.degrees(radius) / max(np.cos(np.radians(abs(CENTRE[1]) + np.degrees(radius))), 0.05))
        lo, hi = (np.sin(np.radians(np.clip(CENTRE[1] + s * np.degrees(radius), -90, 90))) for s in (-1, 1))
        ra = (CENTRE[0] + rng.uniform(-half_ra, half_ra, 3 * n)) % 360.0
        dec = np.degrees(np.arcsin(rng.uniform(lo, hi, 3 * n)))
        inside = hp.ang2vec(ra, dec, lonlat=True) @ centre >= np.cos(radius)
        ra, dec = ra[inside][:n], dec[inside][:n]
        n = ra.size
        pix = hp.ang2pix(TRUTH_NSIDE, ra, dec, lonlat=True)
        g = (gamma1[pix] + 1j * gamma2[pix]) / (1.0 - kappa[pix])
        e_s = args.shape_noise * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
        e_s = np.where(np.abs(e_s) < 1, e_s, e_s / (np.abs(e_s) + 1e-3) * 0.99)
        e = (e_s + g) / (1.0 + np.conj(g) * e_s)
        table = pa.table({"ra": ra.astype(np.float64), "dec": dec.astype(np.float64),
                          "e1": e.real.astype(np.float32), "e2": e.imag.astype(np.float32)})
        if writer is None:
            writer = pq.ParquetWriter(str(out) + ".partial", table.schema)
        writer.write_table(table)
        written += n
    writer.close()
    os.replace(str(out) + ".partial", out)
    print(json.dumps({"catalogue": str(out), "galaxies": written, "area_deg2": args.area,
                      "seconds": time.perf_counter() - started}))


def _truth_at(truth_path: Path, nside: int) -> np.ndarray:
    import healpy as hp

    return hp.ud_grade(hp.read_map(str(truth_path)), nside)


def _score(maps_path: Path, truth: np.ndarray, area: float, nside: int) -> dict:
    import healpy as hp

    from miu2net.io.healpix import read_healpix_maps

    maps, _ = read_healpix_maps(maps_path)
    kappa_e, kappa_b = maps["KAPPA_E"], maps["KAPPA_B"]
    seen = kappa_e != hp.UNSEEN
    vec = np.array(hp.pix2vec(nside, np.arange(kappa_e.size))).T
    radius = cap_radius_deg(area)
    inner = seen & (vec @ hp.ang2vec(*CENTRE, lonlat=True) > np.cos(np.radians(radius - min(3.0, radius / 3))))
    error = kappa_e[inner] - truth[inner]
    mask = inner.astype(float)
    lmax = 2 * nside
    cl_rec = hp.anafast(np.where(inner, kappa_e, 0.0), lmax=lmax)
    cl_true = hp.anafast(np.where(inner, truth, 0.0), lmax=lmax)
    cl_b = hp.anafast(np.where(inner, kappa_b, 0.0), lmax=lmax)
    bands = [(20, 100), (100, 300), (300, 1000), (1000, min(2000, lmax))]
    ratio = {f"{a}-{b}": float(cl_rec[a:b].sum() / cl_true[a:b].sum()) for a, b in bands}
    b_to_e = {f"{a}-{b}": float(cl_b[a:b].sum() / cl_rec[a:b].sum()) for a, b in bands}
    return {"rmse": float(np.sqrt(np.mean(error**2))), "truth_rms": float(np.std(truth[inner])),
            "pearson_r": float(np.corrcoef(kappa_e[inner], truth[inner])[0, 1]), "inner_pixels": int(inner.sum()),
            "fsky_inner": float(mask.mean()), "cl_ratio_e": ratio, "cl_b_over_e": b_to_e}


def _timed(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak resident memory (GB: the largest of the command and its waited-for workers) and
    the last line printed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1e6
    return seconds, peak, (result.stderr.strip().splitlines() or [""])[-1]


def _area(catalogue: Path) -> float:
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(catalogue).metadata
    return float(meta.num_rows)


def run(args: argparse.Namespace) -> None:
    catalogue = Path(args.catalogue).expanduser()
    truth = _truth_at(catalogue.with_suffix(".truth.fits"), args.nside)
    n_rows = _area(catalogue)
    area = args.area or n_rows / (args.n_gal * 3600)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for method in args.methods.split(","):
            out = Path(tmp) / f"{method}.fits"
            command = [sys.executable, "-m", "miu2net", "reconstruct", str(catalogue), "--healpix", str(args.nside),
                       "--method", method, "-o", str(out), "--workers", str(args.workers)]
            seconds, peak, line = _timed(command)
            row = {"method": method, "nside": args.nside, "seconds": seconds, "peak_memory_gb": peak,
                   "seconds_per_deg2": seconds / area, "said": line, **_score(out, truth, area, args.nside)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    report = {"command": "python benchmarks/sphere.py " + " ".join(sys.argv[1:]), "catalogue": str(catalogue),
              "galaxies": int(n_rows), "area_deg2": area, "cores": os.cpu_count(), "results": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


def patches(args: argparse.Namespace) -> None:
    """Flat methods on the patches of a sub-cap of ``--area`` deg² cut from the catalogue."""
    import healpy as hp
    import pyarrow.parquet as pq

    catalogue = Path(args.catalogue).expanduser()
    radius = np.cos(np.radians(cap_radius_deg(args.area)))
    centre = hp.ang2vec(*CENTRE, lonlat=True)
    with tempfile.TemporaryDirectory() as tmp:
        cut = Path(tmp) / "cut.parquet"
        writer = None
        for batch in pq.ParquetFile(catalogue).iter_batches(batch_size=2_000_000):
            ra, dec = batch.column("ra").to_numpy(), batch.column("dec").to_numpy()
            keep = hp.ang2vec(ra, dec, lonlat=True) @ centre > radius
            piece = batch.filter(keep)
            if writer is None:
                writer = pq.ParquetWriter(str(cut), piece.schema)
            writer.write_batch(piece)
        writer.close()
        args.catalogue, truth_link = str(cut), cut.with_suffix(".truth.fits")
        os.symlink(catalogue.with_suffix(".truth.fits"), truth_link)
        run(args)


def flat(args: argparse.Namespace) -> None:
    """The flat single-projection path on the whole cap: one gnomonic map of ``--pixel-arcmin`` pixels about
    the centre, KS93, put back on the sphere (:func:`miu2net.sphere.patches.patch_to_sphere`, no feather)
    and scored as the spherical maps are: the projection's distortion, beside the sphere's maps."""
    import healpy as hp

    from miu2net.io import read_kappa_map
    from miu2net.sphere.patches import patch_to_sphere

    catalogue = Path(args.catalogue).expanduser()
    truth = _truth_at(catalogue.with_suffix(".truth.fits"), args.nside)
    n_rows = _area(catalogue)
    area = n_rows / (args.n_gal * 3600)
    size = int(np.ceil(2 * np.tan(np.radians(cap_radius_deg(area))) * np.degrees(1) * 60 / args.pixel_arcmin)) + 8
    size += size % 2
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "flat.fits"
        command = [sys.executable, "-m", "miu2net", "reconstruct", str(catalogue), "--method", "ks", "--pixel-arcmin",
                   str(args.pixel_arcmin), "--size", str(size), "--center", f"{CENTRE[0]},{CENTRE[1]}", "-o", str(out)]
        seconds, peak, line = _timed(command)
        kappa = read_kappa_map(out)
        maps = {}
        for name, values in (("KAPPA_E", kappa.kappa_e), ("KAPPA_B", kappa.kappa_b)):
            piece = patch_to_sphere(values, CENTRE[0], CENTRE[1], args.pixel_arcmin, args.nside, feather_pixels=1e-9)
            full = np.full(hp.nside2npix(args.nside), hp.UNSEEN)
            full[piece.pixels] = piece.values
            maps[name] = full
        from miu2net.io.healpix import write_healpix_maps

        hp_out = Path(tmp) / "flat_hp.fits"
        write_healpix_maps(maps, hp_out, meta={"method": "ks (one flat map)"})
        row = {"method": f"ks, one flat gnomonic map ({size}² of {args.pixel_arcmin:g}')", "nside": args.nside,
               "seconds": seconds, "peak_memory_gb": peak, "seconds_per_deg2": seconds / area, "said": line,
               **_score(hp_out, truth, area, args.nside)}
    print(json.dumps(row))
    report = {"command": "python benchmarks/sphere.py " + " ".join(sys.argv[1:]), "catalogue": str(catalogue),
              "galaxies": int(n_rows), "area_deg2": area, "cores": os.cpu_count(), "results": [row]}
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


def table(_: argparse.Namespace) -> None:
    lines = ["# Mass maps on the sphere", ""]
    for path in sorted(RESULTS.glob("*.json")):
        report = json.loads(path.read_text())
        lines += [f"## {path.stem}: {report['area_deg2']:.0f} deg², {report['galaxies']:,} galaxies", "",
                  f"`{report['command']}` ({report['cores']} cores)", "",
                  "| method | NSIDE | seconds | s / deg² | peak memory GB | RMSE / truth rms | r | C_ℓ^E ratio (20-100, 100-300, 300-1000, 1000-2000) | B/E power |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in report["results"]:
            ratios = ", ".join(f"{v:.2f}" for v in r["cl_ratio_e"].values())
            b_e = ", ".join(f"{v:.2f}" for v in r["cl_b_over_e"].values())
            lines.append(f"| {r['method']} | {r['nside']} | {r['seconds']:.0f} | {r['seconds_per_deg2']:.3f} | "
                         f"{r['peak_memory_gb']:.1f} | {r['rmse'] / r['truth_rms']:.3f} | {r['pearson_r']:.3f} | "
                         f"{ratios} | {b_e} |")
        lines.append("")
    (RESULTS / "summary.md").write_text("\n".join(lines))
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("make")
    p.add_argument("--area", type=float, default=1000.0)
    p.add_argument("--n-gal", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--shape-noise", type=float, default=SIGMA_E1, help="intrinsic ellipticity rms per component")
    p.add_argument("--out", required=True)
    for name in ("run", "patches"):
        p = sub.add_parser(name)
        p.add_argument("--catalogue", required=True)
        p.add_argument("--methods", default="ks,wiener")
        p.add_argument("--nside", type=int, default=1024)
        p.add_argument("--workers", type=int, default=2)
        p.add_argument("--n-gal", type=float, default=10.0)
        p.add_argument("--area", type=float, default=None if name == "run" else 30.0)
        p.add_argument("--out", required=True)
    p = sub.add_parser("flat")
    p.add_argument("--catalogue", required=True)
    p.add_argument("--nside", type=int, default=1024)
    p.add_argument("--pixel-arcmin", type=float, default=3.44)
    p.add_argument("--n-gal", type=float, default=10.0)
    p.add_argument("--out", required=True)
    sub.add_parser("table")
    args = parser.parse_args()
    {"make": make, "run": run, "patches": patches, "flat": flat, "table": table}[args.command](args)


if __name__ == "__main__":
    main()
