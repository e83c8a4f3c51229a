"""Fresh maps on the fly or a fixed store, on the same budget (issue #10): which trains the better network?

    python benchmarks/stream_vs_store.py [--samples 1200] [--store 300] [--out benchmarks/results/stream_vs_store]

One survey (preset ``csst-small`` at 50 galaxies/arcmin², σ_e = 0.4, Poisson counts, masks of 10-25 %),
one small network (``u2net_small`` with ``mid=8, width=16``: 141 k parameters, so that it trains on this
CPU), the same optimiser, schedule, batch and number of training maps seen (``--samples``). Three ways to
feed it:

* ``store``: a fixed Zarr store of ``--store`` training maps (``miu2net simulate``), seen
  ``samples / store`` times each with random D4 symmetries;
* ``stream``: every map freshly simulated (``--stream``, one truth box per map);
* ``stream-views8``: freshly simulated with 8 views per truth box (``views_per_truth = 8``, the shipped
  configuration).

Each is validated on the store's validation split (best epoch kept) and tested on its 100 held-out test
maps: RMSE after removing each map's mean, as in the benchmark protocol, with the Wiener filter beside
them. Writes OUT/stream_vs_store.json and .md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from miu2net.config import preset
from miu2net.maps import ShearMap
from miu2net.methods import reconstruct
from miu2net.nn.base import predict_samples
from miu2net.nn.checkpoint import load_model
from miu2net.config import TrainConfig
from miu2net.nn.module import fit
from miu2net.sims.dataset import SimDataset, create_dataset
from miu2net.stats.metrics import rmse_centred

SEED = 4242
COMMON = dict(arch="u2net_small", arch_kwargs={"mid": 8, "width": 16}, inputs=("g1", "g2", "mask", "noise", "ks"),
              batch_size=8, lr=2e-3, schedule="cosine", warmup_fraction=0.03, patience=0, progress_bar=False,
              accelerator="cpu", num_workers=1)


def survey_config(n_store: int, n_test: int):
    n = int(round(n_store * 6 / 5))  # train:val = 5:1
    return preset("csst-small").updated(survey={"noise_model": "poisson"},
                                         sim={"n_samples": n, "n_test": n_test, "seed": SEED})


def test_rmse(model_path: str, test: SimDataset) -> list[float]:
    samples = [test[i] for i in range(len(test))]
    outputs = predict_samples(load_model(model_path).model, samples)
    return [rmse_centred(o[0], s["kappa"]) for s, o in zip(samples, outputs)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1200, help="training maps seen by each run")
    parser.add_argument("--store", type=int, default=300, help="training maps in the fixed store")
    parser.add_argument("--n-test", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "stream_vs_store")
    parser.add_argument("--work", type=Path, default=Path("/tmp/miu2net_stream_vs_store"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    store = args.work / "store.zarr"
    config = survey_config(args.store, args.n_test)
    create_dataset(store, config, workers=2)
    test = SimDataset(store, "test")
    epochs = max(1, round(args.samples / args.store))
    steps = max(1, args.store // COMMON["batch_size"])
    stream = {"n_gal_arcmin2": (50.0, 50.0), "shape_noise_sigma": (0.4, 0.4), "masked_fraction": (0.1, 0.25),
              "steps_per_epoch": steps}
    runs = {
        "store": TrainConfig(data=store, out=args.work / "store", epochs=epochs, augment=True, **COMMON),
        "stream": TrainConfig(data=store, out=args.work / "stream", epochs=epochs, stream=stream, **COMMON),
        "stream-views8": TrainConfig(data=store, out=args.work / "stream8", epochs=epochs,
                                     stream={**stream, "views_per_truth": 8}, **COMMON),
    }
    results = {}
    for name, cfg in runs.items():
        start = time.perf_counter()
        if not (Path(cfg.out) / "model.json").exists():
            fit(cfg)
        rmse = test_rmse(str(Path(cfg.out) / "model"), test)
        results[name] = {"rmse": float(np.mean(rmse)), "rmse_sem": float(np.std(rmse) / np.sqrt(len(rmse))),
                         "per_map": rmse, "seconds": round(time.perf_counter() - start, 1)}
        print(f"{name}: RMSE {results[name]['rmse']:.5f} ± {results[name]['rmse_sem']:.5f} "
              f"({results[name]['seconds']:.0f} s)", flush=True)
    wiener = []
    for i in range(len(test)):
        s = test[i]
        mask = (s["mask"] > 0).astype(float)
        shear = ShearMap(g1=s["g1"], g2=s["g2"], mask=mask, noise=np.where(mask > 0, s["noise"], np.inf),
                         pixel_arcmin=test.pixel_arcmin)
        wiener.append(rmse_centred(reconstruct(shear, "wiener").kappa_e, s["kappa"]))
    results["wiener"] = {"rmse": float(np.mean(wiener)), "rmse_sem": float(np.std(wiener) / np.sqrt(len(wiener))),
                         "per_map": wiener}
    base = np.asarray(results["store"]["per_map"])
    for name in ("stream", "stream-views8"):
        diff = np.asarray(results[name]["per_map"]) - base  # paired: the same test maps
        results[name]["minus_store"] = float(diff.mean())
        results[name]["minus_store_sem"] = float(diff.std() / np.sqrt(len(diff)))
    args.out.mkdir(parents=True, exist_ok=True)
    command = f"python benchmarks/stream_vs_store.py --samples {args.samples} --store {args.store} --n-test {args.n_test}"
    (args.out / "stream_vs_store.json").write_text(json.dumps({"command": command, "epochs": epochs,
                                                               "steps_per_epoch": steps, "results": results}, indent=2) + "\n")
    lines = [f"`{command}`: {epochs} epochs x {steps} steps of {COMMON['batch_size']} maps, u2net_small(mid=8, width=16)",
             "", "| training data | test RMSE | minus store (paired) |", "|---|---|---|"]
    for name, r in results.items():
        delta = f"{r['minus_store']:+.5f} ± {r['minus_store_sem']:.5f}" if "minus_store" in r else ""
        lines.append(f"| {name} | {r['rmse']:.5f} ± {r['rmse_sem']:.5f} | {delta} |")
    (args.out / "stream_vs_store.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
