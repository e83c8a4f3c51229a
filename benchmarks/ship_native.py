"""Copy a trained, calibrated native model into the package as the shipped ``miu2net-csst``.

    python benchmarks/ship_native.py RUN_DIR CALIBRATED_STEM [--hardware "2-core CPU"]

Records in the card's ``notes.trained`` how it was made: the commit, the hardware, the commands, and
the maps the network saw (optimiser steps × batch size, from the run's last checkpoint).
"""

from __future__ import annotations

import argparse
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
    config["notes"]["trained"] = {
        "commit": commit, "hardware": args.hardware, "global_step": int(last["global_step"]),
        "maps_seen": int(last["global_step"]) * int(batch), "epochs_completed": int(last["epoch"]),
        "command": "bash benchmarks/train_native.sh OUT cpu",
    }
    out = ROOT / "src" / "miu2net" / "models"
    shutil.copyfile(args.calibrated.with_suffix(".safetensors"), out / f"{NAME}.safetensors")
    (out / f"{NAME}.json").write_text(json.dumps(config, indent=2) + "\n")
    print(json.dumps(config["notes"]["trained"]))


if __name__ == "__main__":
    main()
