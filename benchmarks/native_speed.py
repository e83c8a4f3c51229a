"""Speed of the default `reconstruct` on the default survey grid: the shipped network against the Wiener filter.

    python benchmarks/native_speed.py [--repeat 5] [--batch 16]

Makes one csst map (256² pixels of 0.41', seed 7) as gridded shear, then times complete CLI processes
(start-up, imports, model loading, reconstruction, writing the FITS file) with the default method
(`auto`, which takes the shipped native MIU2Net there) and with `--method wiener`, interleaved so that
the machine's load affects both alike; reports the medians and their ratio measured in this one run.
Then the network's throughput: batched forward passes of 128² fields (the model's) per second on this
CPU, and on a GPU when one is present. Writes ``results/native_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from miu2net.config import preset
from miu2net.io import default_wcs, write_shear_map
from miu2net.maps import ShearMap
from miu2net.sims.simulate import simulate_sample

ROOT = Path(__file__).resolve().parent.parent


def cli_seconds(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "miu2net", *args], check=True, capture_output=True,
                   env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return time.perf_counter() - start


def throughput(device: str, batch: int, repeat: int) -> float:
    import torch

    from miu2net.nn.inference import load

    net = load("miu2net-csst").model.to(device).eval()
    raw = torch.zeros(batch, net.n_raw, 128, 128, device=device)  # a fifth field: the whole field's Wiener map
    raw[:, :2] = 0.05 * torch.randn(batch, 2, 128, 128, device=device)
    raw[:, 2], raw[:, 3] = 1.0, 0.1
    with torch.inference_mode():
        net(raw)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(repeat):
            net(raw)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    return batch * repeat / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    config = preset("csst")
    s = simulate_sample(config, 7)
    shear = ShearMap(g1=s["g1"], g2=s["g2"], mask=s["mask"], noise=np.where(s["mask"] > 0, s["noise"], np.inf),
                     pixel_arcmin=0.41, wcs=default_wcs((256, 256), 0.41))
    times: dict[str, list[float]] = {"auto": [], "wiener": []}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "shear.fits"
        write_shear_map(shear, path)
        for _ in range(args.repeat):
            times["auto"].append(cli_seconds(["reconstruct", str(path), "-o", str(Path(tmp) / "a.fits")]))
            times["wiener"].append(cli_seconds(["reconstruct", str(path), "-o", str(Path(tmp) / "w.fits"),
                                                "--method", "wiener"]))
    med = {k: statistics.median(v) for k, v in times.items()}
    import torch

    rates = {"cpu": throughput("cpu", args.batch, 3)}
    if torch.cuda.is_available():
        rates["cuda"] = throughput("cuda", args.batch * 4, 20)
    result = {"map": "csst 256x256 at 0.41'", "repeat": args.repeat, "seconds": times, "median_seconds": med,
              "ratio_auto_over_wiener": med["auto"] / med["wiener"], "fields_128_per_second": rates,
              "threads": torch.get_num_threads(), "command": "python benchmarks/native_speed.py"}
    out = ROOT / "benchmarks" / "results" / "native_speed.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("median_seconds", "ratio_auto_over_wiener", "fields_128_per_second")}))


if __name__ == "__main__":
    main()
