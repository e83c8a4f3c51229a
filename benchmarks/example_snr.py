"""False detections in the bundled example: S/N peaks of the default reconstruction against the truth.

    python benchmarks/example_snr.py [--noise-realisations 20] [--threshold 4]

Runs what the README's first command runs (``miu2net reconstruct examples/merging_pair_catalogue.fits
--noise-realisations 20``: the default method on the default 0.41′ grid), takes the ``SNR`` map it writes
(κ_E / SIGMA_NOISE, the noise from randomly rotated catalogues passed through the same method) and lists
every local maximum above ``--threshold`` inside the footprint (eroded by 2 pixels), with its distance to
the nearest true cluster (the two highest peaks of the truth, ``*_truth.fits``). A peak farther than 3′
from both clusters is a false detection: the truth there is empty. Also reports ``SIGMA`` and
``SIGMA_NOISE`` at the main cluster. Writes benchmarks/results/example_snr.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS
from scipy.ndimage import binary_erosion

from miu2net.pipeline import CatalogueOptions, reconstruct_file
from miu2net.plots import detection_snr
from miu2net.stats.peaks import find_peaks

from merging_pair import top_peaks  # the sibling benchmark script (run from benchmarks/ or by path)

ROOT = Path(__file__).resolve().parent.parent
FALSE_ARCMIN = 3.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalogue", type=Path, default=ROOT / "examples" / "merging_pair_catalogue.fits")
    parser.add_argument("--noise-realisations", type=int, default=20)
    parser.add_argument("--threshold", type=float, default=4.0)
    parser.add_argument("--method", default="auto")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "example_snr.json")
    args = parser.parse_args()
    truth_path = args.catalogue.with_name(args.catalogue.stem + "_truth.fits")
    with fits.open(truth_path) as hdul:
        truth = hdul["KAPPA_TRUE"].data.astype(np.float64)
        truth_wcs = WCS(hdul["KAPPA_TRUE"].header)
    clusters = top_peaks(truth, truth_wcs)  # the two clusters, as benchmarks/merging_pair.py finds them
    kappa, shear = reconstruct_file(args.catalogue, method=args.method, catalogue=CatalogueOptions(),
                                    noise_realisations=args.noise_realisations, seed=0)
    snr = detection_snr(kappa.kappa_e, kappa.sigma_noise)
    footprint = binary_erosion(shear.mask > 0, iterations=2)
    peaks = find_peaks(np.where(footprint, np.nan_to_num(snr), 0.0), threshold=args.threshold, border=2)
    sky = kappa.wcs.pixel_to_world(np.asarray(peaks.x_sub), np.asarray(peaks.y_sub))
    rows = []
    for i in range(len(peaks.height)):
        distance = float(min(sky[i].separation(clusters).arcmin))
        rows.append({"snr": float(peaks.height[i]), "distance_arcmin": distance, "false": distance > FALSE_ARCMIN})
    main_y, main_x = (int(round(float(v))) for v in kappa.wcs.world_to_pixel(clusters[0])[::-1])
    result = {
        "command": f"python benchmarks/example_snr.py --noise-realisations {args.noise_realisations} "
                   f"--threshold {args.threshold:g}" + (f" --method {args.method}" if args.method != "auto" else ""),
        "method": kappa.meta.get("method"), "model": kappa.meta.get("model"), "grid": list(kappa.shape),
        "peaks": sorted(rows, key=lambda r: -r["snr"]),
        "n_false": int(sum(r["false"] for r in rows)),
        "at_main_cluster": {"kappa_e": float(kappa.kappa_e[main_y, main_x]),
                            "sigma": None if kappa.sigma is None else float(kappa.sigma[main_y, main_x]),
                            "sigma_noise": float(kappa.sigma_noise[main_y, main_x]),
                            "kappa_true": float(truth.max())},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("method", "model", "n_false", "at_main_cluster")}))
    for r in result["peaks"]:
        print(f"S/N {r['snr']:.1f} at {r['distance_arcmin']:.1f}′ from the nearest cluster" + ("  FALSE" if r["false"] else ""))


if __name__ == "__main__":
    main()
