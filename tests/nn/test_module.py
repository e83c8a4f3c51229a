"""Training: a short run learns, checkpoints round-trip exactly, pickles are refused, a killed run resumes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch

from miu2net.config import TrainConfig
from miu2net.errors import InputError
from miu2net.nn import create_model
from miu2net.nn.checkpoint import export_lightning_checkpoint, load_model, save_model
from miu2net.nn.data import ArrayMapDataset, MassMapDataModule, save_npz_dataset
from miu2net.nn.module import MassMappingModule, fit
from miu2net.sims.synthetic import synthetic_maps

torch.set_num_threads(1)
TINY = {"mid": 4, "width": 8}
PIXEL = 0.82


@pytest.fixture(scope="module")
def tiny_maps():
    return synthetic_maps(40, 32, pixel_arcmin=PIXEL, seed=11)


def _datamodule(maps, batch_size=8):
    train = ArrayMapDataset(maps, pixel_arcmin=PIXEL, indices=range(32))
    val = ArrayMapDataset(maps, pixel_arcmin=PIXEL, indices=range(32, 40))
    return MassMapDataModule(train, val, batch_size=batch_size)


def _val_loss(module, dm):
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    return trainer.validate(module, datamodule=dm, verbose=False)[0]["val_loss"]


def test_short_training_lowers_validation_loss(tiny_maps, tmp_path):
    dm = _datamodule(tiny_maps, batch_size=4)
    config = TrainConfig(out=tmp_path / "run", arch="u2net_small", arch_kwargs=TINY, epochs=10, batch_size=4, lr=1e-2,
                         progress_bar=False, patience=0)
    result = fit(config, datamodule=dm)
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    L.seed_everything(0, verbose=False)
    untrained = MassMappingModule("u2net_small", run["arch_kwargs"], pixel_arcmin=PIXEL,
                                  loss=config.loss.loss_kwargs())
    before = _val_loss(untrained, dm)
    after = result["metrics"]["val_loss"]
    assert after < 0.9 * before, f"validation loss did not drop enough: {before:.4g} -> {after:.4g}"
    kappa_rms = float(np.std(tiny_maps["kappa"][32:]))
    assert result["metrics"]["val_rmse"] < 0.9 * kappa_rms, "the trained map does not beat the zero map"
    assert result["metrics"]["val_pearson"] > 0.4
    for name in ("model.safetensors", "model.json", "checkpoints/last.ckpt", "csv/version_0/metrics.csv"):
        assert (tmp_path / "run" / name).exists(), name
    assert list((tmp_path / "run" / "tensorboard").rglob("events.out.tfevents*"))
    meta = json.loads((tmp_path / "run" / "model.json").read_text())
    assert meta["arch"] == "u2net_small" and meta["map_size"] == [32, 32] and meta["pixel_arcmin"] == PIXEL
    assert meta["dataset_fingerprint"] == dm.info["fingerprint"] and "val_rmse" in meta["metrics"]
    # the exported weights are the best checkpoint's, and validate to the recorded loss
    exported = load_model(tmp_path / "run" / "model")
    module = MassMappingModule("u2net_small", run["arch_kwargs"], pixel_arcmin=PIXEL, loss=config.loss.loss_kwargs())
    module.model.load_state_dict(exported.model.state_dict())
    assert _val_loss(module, dm) == pytest.approx(after, rel=1e-4)
    # a Lightning checkpoint converts with weights_only loading
    export_lightning_checkpoint(result["best_checkpoint"], tmp_path / "converted")
    assert torch.equal(load_model(tmp_path / "converted").model.fuse.weight, exported.model.fuse.weight)


def test_checkpoint_round_trip_identical(tmp_path):
    torch.manual_seed(0)
    model = create_model("u2net_small", inputs=("g1", "g2", "mask", "noise", "ks"), out_channels=2, kappa_scale=0.03,
                         **TINY)
    with torch.no_grad():  # non-trivial BatchNorm statistics
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 2.0)
    model.eval()
    save_model(model, tmp_path / "m", pixel_arcmin=PIXEL, map_size=(32, 32), noise_range=(0.05, 0.06),
               survey={"name": "test"}, dataset_fingerprint="abc", metrics={"val_rmse": 0.01})
    loaded = load_model(tmp_path / "m.safetensors")
    raw = torch.randn(2, 4, 32, 32)
    raw[:, 2] = 1.0
    raw[:, 3] = 0.05
    with torch.no_grad():
        assert torch.equal(model(raw), loaded.model(raw)), "outputs differ after a save/load round trip"
    assert loaded.model.inputs == model.inputs and loaded.model.out_channels == 2
    assert loaded.config["survey"] == {"name": "test"} and loaded.noise_range == (0.05, 0.06)


def test_pickles_are_refused(tmp_path):
    model = create_model("deepmass")
    for suffix in (".pt", ".pth", ".ckpt", ".pkl"):
        path = tmp_path / f"model{suffix}"
        torch.save(model.state_dict(), path)
        with pytest.raises(InputError, match="pickle"):
            load_model(path)
    with pytest.raises(InputError, match="no model"):
        load_model(tmp_path / "absent")


def _wait_for_stable(path, proc, timeout=120):
    start, last_size = time.time(), -1
    while time.time() - start < timeout:
        if proc.poll() is not None:
            raise AssertionError(f"training exited early:\n{proc.stderr.read().decode()[-2000:]}")
        if path.exists():
            size = path.stat().st_size
            if size == last_size and size > 0:
                return
            last_size = size
        time.sleep(0.1)
    raise AssertionError("no checkpoint appeared")


def test_kill_and_resume(tmp_path):
    data = save_npz_dataset(tmp_path / "tiny.npz", synthetic_maps(24, 32, pixel_arcmin=PIXEL, seed=5),
                            pixel_arcmin=PIXEL)
    (tmp_path / "train.yaml").write_text("train:\n  arch_kwargs: {mid: 4, width: 8}\n  patience: 0\n")
    run = tmp_path / "run"
    code = ("import sys, torch, typer; torch.set_num_threads(1); from miu2net.cli.train import train_command; "
            "typer.run(train_command)")
    args = [sys.executable, "-c", code, "--data", str(data), "--out", str(run), "--epochs", "50",
            "--batch-size", "4", "--no-progress", "--config", str(tmp_path / "train.yaml")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        _wait_for_stable(run / "checkpoints" / "last.ckpt", proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    epoch, step = int(ckpt["epoch"]), int(ckpt["global_step"])
    steps_per_epoch = 22 // 4  # 22 training maps (2 held for validation), drop_last
    assert step == (epoch + 1) * steps_per_epoch
    assert epoch < 49, "the run finished before it was killed"

    common = dict(data=data, out=run, arch="u2net_small", arch_kwargs=TINY, batch_size=4, patience=0,
                  progress_bar=False)
    with pytest.raises(InputError, match="already holds a run"):
        fit(TrainConfig(epochs=epoch + 3, **common))
    with pytest.raises(InputError, match="cannot resume"):
        fit(TrainConfig(epochs=epoch + 3, resume=True, **{**common, "lr": 0.5}))
    result = fit(TrainConfig(epochs=epoch + 3, resume=True, **common))
    assert result["epochs"] == epoch + 3 and result["global_step"] == (epoch + 3) * steps_per_epoch
    final = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert int(final["epoch"]) == epoch + 2 and int(final["global_step"]) == (epoch + 3) * steps_per_epoch
    versions = sorted((run / "csv").iterdir(), key=lambda p: int(p.name.split("_")[1]))
    assert len(versions) == 2, "each launch logs to its own version folder; nothing is deleted"
    rows = [line.split(",") for line in (versions[-1] / "metrics.csv").read_text().splitlines()]
    header, rows = rows[0], rows[1:]
    epochs = [int(r[header.index("epoch")]) for r in rows if r[header.index("epoch")]]
    assert min(epochs) == epoch + 1, f"resumed run started at epoch {min(epochs)}, not {epoch + 1}"
    assert (run / "model.safetensors").exists()


def test_resume_without_checkpoint_and_bad_config(tmp_path):
    with pytest.raises(InputError, match="no checkpoint"):
        fit(TrainConfig(out=tmp_path / "x", resume=True, data=tmp_path / "none.npz"))
    with pytest.raises(ValueError, match="strategy"):
        TrainConfig(out=tmp_path, num_nodes=2)
    with pytest.raises(InputError, match="unknown arch"):  # the network layer knows the architectures
        fit(TrainConfig(out=tmp_path / "y", arch="resnet", data=tmp_path / "none.npz"))
    assert not (tmp_path / "y").exists(), "an unknown architecture must be refused before any work"


@pytest.mark.slow
def test_train_on_a_zarr_store(tmp_path):
    """The DataModule reads the Zarr store of `miu2net simulate` (SimDataset) and records its survey."""
    from miu2net.config import preset
    from miu2net.sims.dataset import create_dataset

    config = preset("csst-small").updated(sim={"n_samples": 12, "n_test": 2}, survey={"map_size": 32})
    create_dataset(tmp_path / "data.zarr", config, scheduler="sync", progress=False)
    dm = MassMapDataModule.from_path(tmp_path / "data.zarr", batch_size=2, fresh_noise=True)
    assert dm.info["pixel_arcmin"] == config.survey.pixel_arcmin and dm.info["survey"]["name"] == "csst-small"
    result = fit(TrainConfig(out=tmp_path / "run", arch="deepmass", epochs=1, batch_size=2, progress_bar=False),
                 datamodule=dm)
    meta = json.loads(Path(result["model"] + ".json").read_text())
    assert meta["survey"]["name"] == "csst-small" and meta["map_size"] == [32, 32]
