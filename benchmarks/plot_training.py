"""Validation RMSE against training samples seen, from the runs' CSV logs (benchmarks/results/training).

    python benchmarks/plot_training.py [--dir benchmarks/results/training]

Reads NAME.metrics.csv (Lightning's CSVLogger files, copied from each run's csv/version_*/) and, for the
resumed shipped run, NAME.resumed.metrics.csv; writes training_curves.png in the same folder.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def curve(path: Path, batch: int) -> tuple[list[float], list[float]]:
    samples, rmse = [], []
    for row in csv.DictReader(path.open()):
        if row.get("val_rmse"):
            samples.append((int(row["step"]) + 1) * batch)
            rmse.append(float(row["val_rmse"]))
    return samples, rmse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path(__file__).parent / "results" / "training")
    args = parser.parse_args()
    summary = {e["name"]: e for e in json.loads((args.dir / "summary.json").read_text())}
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for name, entry in summary.items():
        s, r = curve(args.dir / f"{name}.metrics.csv", entry["batch"])
        resumed = args.dir / f"{name}.resumed.metrics.csv"
        if resumed.exists():
            s2, r2 = curve(resumed, entry["batch"])
            s, r = s + s2, r + r2
        ax.plot(s, r, marker="o", ms=3, label=f"{name} ({entry['workers']} workers)")
    ax.set_xscale("log")
    ax.set_xlabel("training maps seen")
    ax.set_ylabel("validation RMSE (csst-small store, 50/arcmin²)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out = args.dir / "training_curves.png"
    fig.savefig(out, dpi=120)
    print(out)


if __name__ == "__main__":
    main()
