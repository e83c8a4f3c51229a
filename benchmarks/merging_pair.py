"""Both peaks of the bundled merging cluster pair, by every method, against the truth (issue #8).

    python benchmarks/merging_pair.py [--catalogue examples/merging_pair_catalogue.fits] [--pixel-arcmin P] [--size N]

The example catalogue (``examples/make_example_catalogue.py``: NFW halos of 8e14 and 4e14 Msun at
z = 0.3, 2 Mpc/h apart, 25 galaxies/arcmin² over 60′ × 60′, σ_e = 0.4) is gridded as ``reconstruct``
grids it by default (0.41′ pixels, the map fitted to the footprint: 146²) unless ``--pixel-arcmin`` /
``--size`` say otherwise. ``auto`` is ``miu2net reconstruct CATALOGUE`` with no option at all (the
method it picks is recorded); the other methods run on the same grid with their defaults (a network
trained at another pixel bins to it, and its peaks are found on that grid). The truth's two peaks are the two highest local maxima of the projected κ
(``*_truth.fits``); each method's are the two highest local maxima of κ_E smoothed by a Gaussian of
1′ (σ) within the footprint. Prints, per method, the sky offset of each true peak to the nearest
detected one, in arcmin, and writes benchmarks/results/merging_pair.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS
from scipy.ndimage import binary_erosion

from miu2net.errors import InputError
from miu2net.methods import reconstruct
from miu2net.pipeline import CatalogueOptions, load_shear, reconstruct_file
from miu2net.stats.metrics import gaussian_smooth
from miu2net.stats.peaks import find_peaks

ROOT = Path(__file__).resolve().parent.parent
METHODS = {"miu2net": {"allow_mismatch": False}, "deepmass": {}, "wiener": {}, "mcalens": {}, "ks": {}}


def top_peaks(kappa: np.ndarray, wcs: WCS, n: int = 2, mask: np.ndarray | None = None) -> SkyCoord:
    peaks = find_peaks(kappa, border=2)
    y, x, h = np.asarray(peaks.y_sub), np.asarray(peaks.x_sub), np.asarray(peaks.height)
    if mask is not None:
        keep = mask[np.round(y).astype(int), np.round(x).astype(int)] > 0
        y, x, h = y[keep], x[keep], h[keep]
    order = np.argsort(h)[::-1][:n]
    return wcs.pixel_to_world(x[order], y[order])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalogue", type=Path, default=ROOT / "examples" / "merging_pair_catalogue.fits")
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--pixel-arcmin", type=float, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "merging_pair.json")
    args = parser.parse_args()
    truth_path = args.catalogue.with_name(args.catalogue.stem + "_truth.fits")
    with fits.open(truth_path) as hdul:
        truth = hdul["KAPPA_TRUE"].data.astype(np.float64)
        truth_wcs = WCS(hdul["KAPPA_TRUE"].header)
    true = top_peaks(truth, truth_wcs)
    shear, _ = load_shear(args.catalogue, CatalogueOptions(pixel_arcmin=args.pixel_arcmin, size=args.size))
    # The footprint: pixels with galaxies, eroded by 2 pixels so edge noise does not count as a peak.
    footprint = binary_erosion(shear.mask > 0, iterations=2)
    results = {}
    runs = {"auto": None, **METHODS}
    for name, options in runs.items():
        if options is None:  # the CLI's defaults, end to end
            kappa, _ = reconstruct_file(args.catalogue, catalogue=CatalogueOptions(pixel_arcmin=args.pixel_arcmin,
                                                                                  size=args.size))
        else:
            try:
                kappa = reconstruct(shear, name, **options)
            except InputError as exc:  # e.g. a network with no model for this grid
                results[name] = {"skipped": str(exc)}
                print(f"{name:9s} skipped: {exc}", flush=True)
                continue
        grid_mask = footprint
        if kappa.shape != shear.shape:  # a network that binned the input to its pixel
            factor = shear.shape[0] // kappa.shape[0]
            grid_mask = binary_erosion(shear.mask[::factor, ::factor][:kappa.shape[0], :kappa.shape[1]] > 0, iterations=1)
        smooth = gaussian_smooth(kappa.kappa_e, sigma_arcmin=1.0, pixel_arcmin=kappa.pixel_arcmin)
        found = top_peaks(smooth, kappa.wcs if kappa.wcs is not None else shear.wcs, mask=grid_mask)
        offsets = [float(min(t.separation(found).arcmin)) for t in true]
        results[name] = {"offsets_arcmin": offsets, "chi2dof": kappa.meta.get("chi2dof"),
                         "method": kappa.meta.get("method"), "model": kappa.meta.get("model"),
                         "grid": [int(kappa.shape[0]), float(kappa.pixel_arcmin)],
                         "peaks_deg": [[float(c.ra.deg), float(c.dec.deg)] for c in found]}
        print(f"{name:9s} offsets of the two true peaks: {offsets[0]:.2f}', {offsets[1]:.2f}'", flush=True)
    payload = {"catalogue": str(args.catalogue.relative_to(ROOT)) if args.catalogue.is_relative_to(ROOT) else str(args.catalogue),
               "size": args.size, "pixel_arcmin": args.pixel_arcmin, "true_peaks_deg": [[float(c.ra.deg), float(c.dec.deg)] for c in true],
               "command": "python benchmarks/merging_pair.py" + (f" --size {args.size}" if args.size else "")
                          + (f" --pixel-arcmin {args.pixel_arcmin:g}" if args.pixel_arcmin else ""), "methods": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
