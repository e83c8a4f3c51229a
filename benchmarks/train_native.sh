#!/usr/bin/env bash
# Train the native model miu2net-csst (configs/train/miu2net-csst.yaml) to a shipped, calibrated model,
# on this machine's CPU or on a GPU:
#
#   bash benchmarks/train_native.sh OUT [cpu|gpu]
#
# 1. OUT/val-native.zarr: 65 N-body validation maps (runs the bank's simulations first if missing).
# 2. OUT/miu2net-csst: the training run (128² windows of 256² fields of N-body, halo-model and Gaussian
#    skies with the whole field's Wiener map, 5-100 galaxies/arcmin2, outer masks), resumable: rerun the
#    same command after a crash, or with EPOCHS and MINUTES raised to add training to a finished run
#    (weights, optimiser, schedule and stream position are in OUT/miu2net-csst/checkpoints/last.ckpt).
# 3. OUT/miu2net-csst-calibrated: the conformal calibration on N_CAL (default 1000) fresh windows of the
#    same mixture (its own seed-sequence code), conditioned on the noise level.
# On a GPU ("gpu"): 16 data-loader workers, batch 32, 400 steps an epoch, bf16, at most 12 minutes
# (one H100-class GPU with 16 CPU cores simulating); on the CPU the configuration's own numbers (one
# worker, batch 16, 40 steps an epoch, at most max_time_minutes on 2 cores).
# Keep OUT outside git (e.g. ~/.cache/miu2net/runs): it is the run state later sessions resume.
set -euo pipefail
OUT=${1:?give the output folder}
KIND=${2:-cpu}
mkdir -p "$OUT"
if [ ! -d "$OUT/val-native.zarr" ]; then
  miu2net simulate --config configs/sims/csst-native-val.yaml --truth nbody --n-test 0 --out "$OUT/val-native.zarr"
fi
RESUME=""
[ -f "$OUT/miu2net-csst/checkpoints/last.ckpt" ] && RESUME="--resume"
MORE=""
[ -n "${EPOCHS:-}" ] && MORE="$MORE --epochs $EPOCHS"
[ -n "${MINUTES:-}" ] && MORE="$MORE --max-time-minutes $MINUTES"
if [ "$KIND" = gpu ]; then
  miu2net train --config configs/train/miu2net-csst.yaml --data "$OUT/val-native.zarr" --out "$OUT/miu2net-csst" \
    --accelerator gpu --precision bf16-mixed --workers 16 --batch-size 32 --steps-per-epoch 400 --max-time-minutes 12 --no-progress $RESUME
else
  miu2net train --config configs/train/miu2net-csst.yaml --data "$OUT/val-native.zarr" --out "$OUT/miu2net-csst" \
    --accelerator cpu --no-progress $RESUME $MORE
fi
miu2net calibrate --model "$OUT/miu2net-csst/model" --stream --sim-config configs/sims/csst-whole-field.yaml \
  --n "${N_CAL:-1000}" --out "$OUT/miu2net-csst-calibrated"
