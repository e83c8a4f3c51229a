"""Training and inference speed of the networks on this machine, beside Kaiser-Squires in the same run.

    python benchmarks/speed_nn.py [--sizes 128 256] [--archs u2net_small u2net_full deepmass] [--device cpu]

For each architecture and map size: training samples per second (forward of all outputs, the full loss
with deep supervision and the power-spectrum term, backward, AdamW step) and inference maps per second
(eval mode, ``torch.inference_mode``), each the fastest of a few timed batches after one warm-up
batch (the least disturbed by other processes on a shared machine); and KS (``miu2net.methods.ks``, zero-padded, one map at a time) maps per second at the same size.
The full network at 256² is slow on a CPU, so it times a single batch of one map. Writes
benchmarks/results/speed_nn.json and prints a Markdown table. This machine is shared: compare ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from miu2net import __version__
from miu2net.maps import ShearMap
from miu2net.methods import ks
from miu2net.nn import create_model, model_info
from miu2net.nn.base import raw_from_arrays
from miu2net.nn.losses import MassMappingLoss

RESULTS = Path(__file__).parent / "results"
# (training batch, inference batch, timed repeats) per architecture and size.
PLAN = {
    ("u2net_small", 128): (8, 8, 3), ("u2net_small", 256): (4, 4, 2),
    ("u2net_full", 128): (2, 2, 2), ("u2net_full", 256): (1, 1, 1),
    ("deepmass", 128): (16, 16, 3), ("deepmass", 256): (8, 8, 3),
}


def _batch(n: int, size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(0)
    raws = []
    for _ in range(n):
        mask = (rng.random((size, size)) > 0.15).astype(float)
        g1, g2 = 0.1 * rng.standard_normal((2, size, size))
        raws.append(raw_from_arrays(g1, g2, mask, np.full((size, size), 0.1)))
    kappa = 0.02 * torch.randn(n, 1, size, size)
    return torch.from_numpy(np.stack(raws)).to(device), kappa.to(device)


def _best_time(step, repeats: int, device: torch.device) -> float:
    step()  # warm-up
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return float(np.min(times))


def bench_network(arch: str, size: int, device: torch.device, pixel_arcmin: float = 0.82) -> dict:
    train_batch, infer_batch, repeats = PLAN.get((arch, size), (2, 2, 2))
    torch.manual_seed(0)
    model = create_model(arch).to(device)
    loss_fn = MassMappingLoss(pixel_arcmin=pixel_arcmin, freq_weight=0.1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    raw, kappa = _batch(train_batch, size, device)

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        loss, _ = loss_fn(model.forward_all(raw), kappa / model.kappa_scale)
        loss.backward()
        optimizer.step()

    model.train()
    t_train = _best_time(train_step, repeats, device)
    model.eval()
    raw_inf, _ = _batch(infer_batch, size, device)

    def infer():
        with torch.inference_mode():
            model(raw_inf)

    t_infer = _best_time(infer, repeats, device)
    return {"arch": arch, "size": size, "parameters": model_info(arch)["parameters"],
            "train_batch": train_batch, "train_s_per_batch": t_train, "train_samples_per_s": train_batch / t_train,
            "infer_batch": infer_batch, "infer_s_per_batch": t_infer, "infer_maps_per_s": infer_batch / t_infer,
            "timed_repeats": repeats}


def bench_ks(size: int, repeats: int = 10) -> float:
    rng = np.random.default_rng(0)
    g1, g2 = 0.05 * rng.standard_normal((2, size, size))
    shear = ShearMap(g1=g1, g2=g2, pixel_arcmin=0.82)
    ks.reconstruct(shear)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        ks.reconstruct(shear, pad=True)
        times.append(time.perf_counter() - start)
    return 1.0 / float(np.min(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--archs", nargs="+", default=["u2net_small", "u2net_full"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads [torch default]")
    parser.add_argument("--out", type=Path, default=RESULTS / "speed_nn.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rows = []
    load_before = os.getloadavg()
    for size in args.sizes:
        ks_rate = bench_ks(size)
        for arch in args.archs:
            row = bench_network(arch, size, device)
            row["ks_maps_per_s"] = ks_rate
            row["infer_time_over_ks"] = ks_rate / row["infer_maps_per_s"]
            rows.append(row)
            print(f"{arch} {size}: {row['train_samples_per_s']:.3g} train samples/s, "
                  f"{row['infer_maps_per_s']:.3g} maps/s; KS {ks_rate:.3g} maps/s", flush=True)
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or platform.machine())
    record = {"benchmark": "nn_speed", "version": __version__, "device": str(device), "device_name": device_name,
              "torch": torch.__version__, "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
              "load_average_before_after": [load_before[0], os.getloadavg()[0]], "timing": "fastest of the timed repeats",
              "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"\n{device_name}, torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| network | params | map | train [samples/s] | inference [maps/s] | KS [maps/s] | inference time / KS |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['arch']} | {r['parameters'] / 1e6:.2f} M | {r['size']}² | {r['train_samples_per_s']:.3g} "
              f"(batch {r['train_batch']}) | {r['infer_maps_per_s']:.3g} (batch {r['infer_batch']}) | "
              f"{r['ks_maps_per_s']:.3g} | {r['infer_time_over_ks']:.3g} |")


if __name__ == "__main__":
    main()
