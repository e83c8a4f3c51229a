"""Copy a trained, calibrated native model into the package as the shipped ``miu2net-csst``.

    python benchmarks/ship_native.py RUN_DIR CALIBRATED_STEM [--hardware "2-core CPU"]

Records in the card's ``notes.trained`` how it was made: the commit, the hardware, the commands, the
maps the network saw in this run (optimiser steps × batch size, from the run's last checkpoint) and in
all (adding those of the model it was fine-tuned from, ``init_from``, as its card records them), and the
validation curve of the run (``val_rmse`` and ``val_loss`` per epoch, from its CSV logs): the training
budget grows across sessions, and the card says how much the shipped weights have seen.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
NAME = "miu2net-csst"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("calibrated", type=Path)
    parser.add_argument("--hardware", default="2-core CPU (shared), no GPU")
    args = parser.parse_args()
    last = torch.load(args.run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    config = json.loads(args.calibrated.with_suffix(".json").read_text())
    batch = config["notes"]["train_config"]["batch_size"]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    maps = int(last["global_step"]) * int(batch)
    before = 0
    source = config["notes"]["train_config"].get("init_from")
    if source:
        from miu2net.nn.checkpoint import load_model

        trained_before = (load_model(source).config.get("notes") or {}).get("trained") or {}
        before = int(trained_before.get("maps_seen_total", trained_before.get("maps_seen", 0)))
    config["notes"]["trained"] = {
        "commit": commit, "hardware": args.hardware, "global_step": int(last["global_step"]),
        "maps_seen": maps, "maps_seen_total": maps + before, "init_from": source,
        "epochs_completed": int(last["epoch"]), "command": "bash benchmarks/train_native.sh OUT cpu",
        "validation_curve": validation_curve(args.run),
    }
    out = ROOT / "src" / "miu2net" / "models"
    shutil.copyfile(args.calibrated.with_suffix(".safetensors"), out / f"{NAME}.safetensors")
    (out / f"{NAME}.json").write_text(json.dumps(config, indent=2) + "\n")
    print(json.dumps(config["notes"]["trained"]))


def validation_curve(run: Path) -> list[dict]:
    """``[{"step", "epoch", "val_rmse", "val_loss"}, ...]`` from every CSV log of the run (resumes included)."""
    rows = []
    for path in sorted(run.glob("csv/version_*/metrics.csv")):
        with path.open() as f:
            for row in csv.DictReader(f):
                if row.get("val_rmse"):
                    rows.append({"step": int(row["step"]), "epoch": int(row["epoch"]),
                                 "val_rmse": float(row["val_rmse"]), "val_loss": float(row["val_loss"])})
    return sorted(rows, key=lambda r: r["step"])


if __name__ == "__main__":
    main()
