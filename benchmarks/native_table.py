"""The README's table of the native model from the results of ``benchmarks/native.py``.

    python benchmarks/native_table.py [--results benchmarks/results/native]

One row per sky and depth: RMSE raw and after 1' smoothing of each method, in brackets relative to the
Wiener filter on the same maps; the largest ell within 4 % (ℓ_max) and the fraction of true peaks found
(ν > 3 at 2') of the power-faithful map, the Wiener filter and MCALens; the coverage of the 68 % and 90 %
intervals of KAPPA_E ± SIGMA.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIES = ("nbody", "halo_model", "gaussian")
METHODS = ("miu2net", "miu2net:power", "wiener", "mcalens", "ks:1arcmin")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "native")
    args = parser.parse_args()
    rows = []
    for folder in sorted(args.results.glob("*_ngal*"), key=lambda p: (SKIES.index(p.name.split("_ngal")[0]),
                                                                    float(p.name.split("_ngal")[1]))):
        data = json.loads((folder / "metrics.json").read_text())
        m = data["methods"]
        w = m["wiener"]

        def rel(name, key):
            if name not in m:
                return "—"
            return f"{m[name][key]:.5f} ({100 * (m[name][key] / w[key] - 1):+.1f}%)"

        cov = data["meta"].get("coverage") or {}
        cover = (f"{cov['all']['0.68']:.3f} / {cov['all']['0.9']:.3f}" if cov.get("all") else "—")
        sky, depth = folder.name.split("_ngal")
        rows.append("| " + " | ".join([
            sky.replace("_", "-"), depth, str(data["n_maps"]),
            *(rel(name, "rmse") for name in METHODS),
            *(rel(name, "rmse_smooth_1arcmin") for name in ("miu2net", "mcalens")),
            " / ".join(f"{m[n]['ell_max_within_4pct']:.0f}" if n in m else "—" for n in ("miu2net:power", "miu2net", "wiener", "mcalens")),
            " / ".join(f"{m[n]['peak_completeness']:.2f}" if n in m else "—" for n in ("miu2net:power", "miu2net", "wiener", "mcalens")),
            cover]) + " |")
    head = ("| sky | n_gal | maps | MIU2Net (mean) | MIU2Net (power) | Wiener | MCALens | KS 1′ | MIU2Net 1′ | MCALens 1′ "
            "| ℓ_max 4 % (power / mean / Wiener / MCALens) | peaks found (same order) | cover 68 / 90 % |")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
