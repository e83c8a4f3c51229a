#!/usr/bin/env bash
# Train the native model miu2net-csst (configs/train/miu2net-csst.yaml) from scratch to a shipped,
# calibrated model, on this machine's CPU or on a GPU:
#
#   bash benchmarks/train_native.sh OUT [cpu|gpu]
#
# 1. OUT/val-native.zarr: 65 N-body validation maps (runs the bank's simulations first if missing).
# 2. OUT/miu2net-csst: the training run (stream of N-body, halo-model and Gaussian skies, 5-100
#    galaxies/arcmin2, outer masks), resumable (rerun the same command after a crash).
# 3. OUT/miu2net-csst-calibrated: the conformal calibration on 1000 fresh maps of the same mixture
#    (its own seed-sequence code), conditioned on the noise level.
# On a GPU ("gpu"): 16 data-loader workers, batch 32, 8 epochs of 400 steps (102,400 maps), bf16, at
# most 12 minutes (one H100-class GPU with 16 CPU cores simulating); on the CPU the configuration's own
# numbers (one worker, batch 16, 8 epochs of 50 steps: 6,400 maps, at most 70 minutes on 2 cores).
set -euo pipefail
OUT=${1:?give the output folder}
KIND=${2:-cpu}
mkdir -p "$OUT"
if [ ! -d "$OUT/val-native.zarr" ]; then
  miu2net simulate --config configs/sims/csst-native-val.yaml --truth nbody --n-test 0 --out "$OUT/val-native.zarr"
fi
RESUME=""
[ -f "$OUT/miu2net-csst/checkpoints/last.ckpt" ] && RESUME="--resume"
if [ "$KIND" = gpu ]; then
  miu2net train --config configs/train/miu2net-csst.yaml --data "$OUT/val-native.zarr" --out "$OUT/miu2net-csst" \
    --accelerator gpu --precision bf16-mixed --workers 16 --batch-size 32 --steps-per-epoch 400 --max-time-minutes 12 --no-progress $RESUME
else
  miu2net train --config configs/train/miu2net-csst.yaml --data "$OUT/val-native.zarr" --out "$OUT/miu2net-csst" \
    --accelerator cpu --no-progress $RESUME
fi
miu2net calibrate --model "$OUT/miu2net-csst/model" --stream --sim-config configs/sims/csst-native.yaml \
  --n 1000 --out "$OUT/miu2net-csst-calibrated"
