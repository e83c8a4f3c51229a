"""The README's tables of the benchmark protocol on the survey's grid, from ``benchmarks/native.py``'s results.

    python benchmarks/survey_grid_table.py [--results benchmarks/results/survey_grid]

Reads every ``{sky}_ngal{N}/metrics.json`` and writes ``summary.md`` (the tables the README shows) and
``summary.json`` (the same numbers) beside them, so that a number in the docs cannot drift from its source.

Table 1, RMSE: for each sky and depth, the minimum-RMSE map (``KAPPA_E`` of ``miu2net``) and MCALens
relative to the Wiener filter on the same maps, raw and with truth and map smoothed by 1′, 2′ and 4′
(negative: below the Wiener filter), and the Wiener filter's own RMSE.
Table 2, the rest: the largest |C_ℓ/C_ℓ^true − 1| of the power-faithful map (``miu2net:power``) and of
the minimum-RMSE map over the bins with 200 ≤ ℓ ≤ 3000, the fraction of true peaks found (ν > 3 at 2′) by
the power-faithful map, the minimum-RMSE map, the Wiener filter and MCALens, and the coverage of the
calibrated 68 % and 90 % intervals ``KAPPA_E ± SIGMA``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SKIES = ("nbody", "halo_model", "gaussian")
SCALES = ("rmse", "rmse_smooth_1arcmin", "rmse_smooth_2arcmin", "rmse_smooth_4arcmin")
ELL_BAND = (200.0, 3000.0)


def power_error(data: dict, method: str) -> float | None:
    """Largest |C_ℓ ratio − 1| over the bins whose ℓ lies in :data:`ELL_BAND`."""
    if method not in data["methods"]:
        return None
    ell = np.asarray(data["ell"])
    ratio = np.asarray(data["methods"][method]["cl_ratio"])
    band = (ell >= ELL_BAND[0]) & (ell <= ELL_BAND[1]) & np.isfinite(ratio)
    return float(np.max(np.abs(ratio[band] - 1.0))) if band.any() else None


def summarise(data: dict) -> dict:
    m = data["methods"]
    w = m["wiener"]
    out = {"n_maps": data["n_maps"], "wiener": {k: w[k] for k in SCALES}}
    for name in ("miu2net", "mcalens", "miu2net:power"):
        if name in m:
            out[name] = {k: m[name][k] / w[k] - 1.0 for k in SCALES}
    out["power_error_200_3000"] = {n: power_error(data, n) for n in ("miu2net:power", "miu2net", "wiener")}
    out["peaks_found"] = {n: m[n]["peak_completeness"] for n in ("miu2net:power", "miu2net", "wiener", "mcalens")
                          if n in m}
    out["coverage"] = (m.get("miu2net") or {}).get("coverage")
    out["command"] = data["meta"].get("command")
    return out


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:+.1f} %"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "survey_grid")
    args = parser.parse_args()
    folders = sorted(args.results.glob("*_ngal*"), key=lambda p: (SKIES.index(p.name.split("_ngal")[0]),
                                                                 float(p.name.split("_ngal")[1])))
    summary, rmse_rows, other_rows = {}, [], []
    for folder in folders:
        sky, depth = folder.name.split("_ngal")
        s = summarise(json.loads((folder / "metrics.json").read_text()))
        summary[folder.name] = s
        label = [sky.replace("_", "-"), depth, str(s["n_maps"])]
        rmse_rows.append("| " + " | ".join(label + [
            " / ".join(_pct((s.get("miu2net") or {}).get(k)) for k in SCALES),
            " / ".join(_pct((s.get("mcalens") or {}).get(k)) for k in SCALES),
            " / ".join(f"{s['wiener'][k]:.5f}" for k in SCALES)]) + " |")
        p = s["power_error_200_3000"]
        cov = s["coverage"] or {}
        other_rows.append("| " + " | ".join(label + [
            " / ".join("—" if p[n] is None else f"{100 * p[n]:.1f} %" for n in ("miu2net:power", "miu2net", "wiener")),
            " / ".join(f"{s['peaks_found'][n]:.2f}" if n in s["peaks_found"] else "—"
                       for n in ("miu2net:power", "miu2net", "wiener", "mcalens")),
            (f"{cov['0.68']:.3f} / {cov['0.9']:.3f}" if "0.68" in cov and "0.9" in cov else "—")]) + " |")
    text = ("| sky | n_gal | maps | MIU2Net `KAPPA_E` vs Wiener: raw / 1′ / 2′ / 4′ | MCALens vs Wiener: raw / 1′ / 2′ "
            "/ 4′ | Wiener RMSE: raw / 1′ / 2′ / 4′ |\n|---|---|---|---|---|---|\n" + "\n".join(rmse_rows) + "\n\n"
            "| sky | n_gal | maps | max \\|C_ℓ ratio − 1\\|, 200 ≤ ℓ ≤ 3000 (power / mean / Wiener) | peaks found "
            "(power / mean / Wiener / MCALens) | coverage of `KAPPA_E ± SIGMA`, 68 / 90 % |\n|---|---|---|---|---|---|\n"
            + "\n".join(other_rows) + "\n")
    (args.results / "summary.md").write_text(text)
    (args.results / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(text)


if __name__ == "__main__":
    main()
