"""Streamed, depth-varied training data: determinism, ranges, the simulate code path, the noise channel
over every depth, and a streamed training run validated on a fixed store."""

import json
from pathlib import Path

import lightning as L
import numpy as np
import pydantic
import pytest
import torch
import yaml
from torch.utils.data import DataLoader
from typer.testing import CliRunner

from miu2net.config import StreamConfig, TrainConfig, preset
from miu2net.errors import InputError
from miu2net.nn.base import InputEncoder, raw_from_arrays
from miu2net.nn.data import TrainingView
from miu2net.nn.streaming import CALIBRATION_STREAM, StreamingSimDataset, StreamSampler
from miu2net.sims.simulate import simulate_sample

torch.set_num_threads(1)
SMALL = preset("csst-small").updated(survey={"map_size": 32}, sim={"n_samples": 12, "n_test": 2})


@pytest.fixture(scope="module")
def stream():
    return StreamingSimDataset(SMALL.updated(sim={"seed": 5}), length=16, seed=3)


def test_same_key_same_sample_and_new_epochs_new_maps(stream):
    a, b = stream[(2, 7)], stream[(2, 7)]
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=f"{key}: a streamed sample must be a pure function "
                                                              "of (seed, epoch, index)")
    again = StreamingSimDataset(SMALL.updated(sim={"seed": 5}), length=16, seed=3)[(2, 7)]
    np.testing.assert_array_equal(a["g1"], again["g1"], err_msg="a new dataset object (a worker) gives the same map")
    other_epoch, other_index = stream[(3, 7)], stream[(2, 8)]
    other_seed = StreamingSimDataset(SMALL.updated(sim={"seed": 5}), length=16, seed=4)[(2, 7)]
    for other in (other_epoch, other_index, other_seed):
        assert not np.allclose(a["kappa"], other["kappa"]), "another epoch, index or seed must be another truth"
        assert int(other["seed"]) != int(a["seed"])
    assert np.array_equal(stream[5]["g1"], stream[(0, 5)]["g1"]), "an integer key is epoch 0"
    calib = StreamingSimDataset(SMALL.updated(sim={"seed": 5}), length=16, seed=3, stream=CALIBRATION_STREAM)
    assert int(calib[(2, 7)]["seed"]) != int(a["seed"]), "the calibration stream is not the training stream"


def test_draws_within_ranges_and_log_uniform(stream):
    draws = [stream.draw(e, i) for e in range(4) for i in range(100)]
    n_gal = np.array([d["n_gal_arcmin2"] for d in draws])
    sigma_e = np.array([d["shape_noise_sigma"] for d in draws])
    assert n_gal.min() >= 5.0 and n_gal.max() <= 100.0 and sigma_e.min() >= 0.26 and sigma_e.max() <= 0.40
    # log-uniform: half of the draws below the geometric mean sqrt(5 * 100), a quarter below 5 * 20**0.25
    assert abs(np.mean(n_gal < np.sqrt(500.0)) - 0.5) < 0.07
    assert abs(np.mean(n_gal < 5.0 * 20**0.25) - 0.25) < 0.07
    assert abs(np.mean(sigma_e < 0.33) - 0.5) < 0.07
    seeds = {d["seed"] for d in draws}
    assert len(seeds) == len(draws) and min(seeds) >= 0


def test_samples_poisson_noise_masks_and_depth(stream):
    fractions = []
    for i in range(12):
        s = stream[(0, i)]
        n_gal, sigma_e = float(s["n_gal_arcmin2"]), float(s["shape_noise_sigma"])
        assert 5.0 <= n_gal <= 100.0 and 0.26 <= sigma_e <= 0.40
        obs = s["mask"] > 0
        assert np.all(s["noise"][~obs] == 0) and np.all(s["g1"][~obs] == 0), "masked pixels hold 0"
        counts = sigma_e**2 / (2.0 * s["noise"][obs].astype(np.float64) ** 2)
        np.testing.assert_allclose(counts, np.round(counts), rtol=2e-5,
                                   err_msg="noise must be sigma_e / sqrt(2 N) with N integer galaxy counts")
        mean_count = n_gal * stream.pixel_arcmin**2
        assert abs(np.mean(np.round(counts)) - mean_count) < 0.25 * mean_count + 1.0, "Poisson mean n_gal A_pix"
        fractions.append(1.0 - obs.mean())
    assert max(fractions) <= 0.35 + 0.1 and min(fractions) < 0.2, "masked fraction from 0 to 0.35 plus empties"


def test_same_code_path_as_simulate():
    """With the ranges pinned to the store's survey, a streamed sample is `simulate_sample` of its seed."""
    config = SMALL.updated(survey={"noise_model": "poisson", "n_gal_arcmin2": 30.0, "shape_noise_sigma": 0.3,
                                   "mask": {"masked_fraction": [0.1, 0.25]}})
    s = StreamingSimDataset(config, n_gal_arcmin2=(30.0, 30.0), shape_noise_sigma=(0.3, 0.3),
                            masked_fraction=(0.1, 0.25), length=4, seed=1)
    got = s[(1, 2)]
    ref = simulate_sample(config, int(got["seed"]))
    for key, value in ref.items():
        np.testing.assert_array_equal(got[key], value, err_msg=f"{key} differs from miu2net simulate's")


def test_stream_ranges_validated():
    with pytest.raises(pydantic.ValidationError, match="n_gal_arcmin2"):
        StreamConfig(n_gal_arcmin2=(100.0, 5.0))
    with pytest.raises(pydantic.ValidationError, match="masked_fraction"):
        StreamConfig(masked_fraction=(0.0, 1.2))
    with pytest.raises(pydantic.ValidationError, match="shape_noise_sigma"):
        StreamingSimDataset(SMALL, shape_noise_sigma=(0.0, 0.3))
    with pytest.raises(pydantic.ValidationError, match="--data"):
        TrainConfig(out="x", stream=StreamConfig())
    with pytest.raises(pydantic.ValidationError, match="out_channels=2"):
        TrainConfig(out="x", loss={"spread": "gaussian_nll"})
    with pytest.raises(InputError, match="split"):
        StreamingSimDataset(SMALL, stream=1)


def test_sampler_epochs_and_devices(stream):
    sampler = StreamSampler(10, rank=0, world_size=1)
    assert list(sampler)[:3] == [(0, 0), (0, 1), (0, 2)] and len(sampler) == 10
    sampler.set_epoch(4)
    assert {e for e, _ in sampler} == {4}
    ranks = [list(StreamSampler(12, rank=r, world_size=3)) for r in range(3)]
    indices = sorted(i for keys in ranks for _, i in keys)
    assert indices == list(range(12)), "devices share an epoch's keys without overlap"
    # keys travel to worker processes with the batch: one worker gives the bytes of the main process
    direct = DataLoader(TrainingView(stream), batch_size=4, sampler=StreamSampler(8), num_workers=0)
    forked = DataLoader(TrainingView(stream), batch_size=4, sampler=StreamSampler(8), num_workers=1)
    for (ra, ka), (rb, kb) in zip(direct, forked):
        assert torch.equal(ra, rb) and torch.equal(ka, kb)


def test_noise_channel_serves_every_depth(stream):
    """Over 5-100 galaxies/arcmin² and sigma_e 0.26-0.40 the log encoding neither clips nor saturates."""
    sigma = np.geomspace(0.26 / np.sqrt(2 * 100 * 0.82**2 * 3), 0.40 / np.sqrt(2), 200)  # 1 to ~200 galaxies
    g = np.zeros((1, sigma.size))
    raw = torch.from_numpy(raw_from_arrays(g, g, np.ones_like(g), sigma[None]))[None]
    ref = float(np.median(sigma))
    log = InputEncoder(("mask", "noise"), shear_scale=0.1, noise_ref=ref, noise_clip=4.0, noise_encoding="log")(raw)
    x = log[0, 1, 0].numpy().astype(np.float64)
    np.testing.assert_allclose(x, np.log(ref / sigma), rtol=1e-5, err_msg="log channel is ln(noise_ref / sigma)")
    assert np.all(np.diff(x) < 0) and np.abs(x).max() < 4.0, "strictly monotonic, never at the clip"
    # twice the galaxies is the same step (ln 2 / 2) at the shallow and at the deep end
    pair = np.array([[0.2, 0.2 / np.sqrt(2)], [0.02, 0.02 / np.sqrt(2)]])
    raw2 = torch.from_numpy(raw_from_arrays(np.zeros((2, 2)), np.zeros((2, 2)), np.ones((2, 2)), pair))[None]
    y = InputEncoder(("mask", "noise"), shear_scale=0.1, noise_ref=ref, noise_clip=4.0, noise_encoding="log")(raw2)
    np.testing.assert_allclose((y[0, 1, :, 1] - y[0, 1, :, 0]).numpy(), np.log(2) / 2, rtol=1e-5)
    inverse = InputEncoder(("mask", "noise"), shear_scale=0.1, noise_ref=ref, noise_clip=4.0)(raw)[0, 1, 0].numpy()
    assert np.any(inverse == 4.0) and inverse.min() < 0.25, \
        "the old encoding (same reference) clips the deep end and squeezes the shallow end towards 'masked' (0)"
    with pytest.raises(InputError, match="mask"):
        InputEncoder(("g1", "noise"), shear_scale=0.1, noise_ref=0.1, noise_clip=4.0, noise_encoding="log")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from miu2net.sims.dataset import create_dataset

    path = tmp_path_factory.mktemp("store") / "data.zarr"
    create_dataset(path, SMALL, scheduler="sync", progress=False)
    return path


class _EpochProbe(L.Callback):
    """Checks that every training batch holds the maps of keys (current epoch, batch_idx * size + j)."""

    def __init__(self):
        self.seen = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        raw, kappa = batch
        view = TrainingView(trainer.datamodule.train_set)
        n = kappa.shape[0]
        expected = torch.stack([view[(trainer.current_epoch, batch_idx * n + j)][1] for j in range(n)])
        self.seen.append(torch.equal(kappa, expected))


def test_streamed_training_validates_on_the_store(store, tmp_path):
    from miu2net.nn.module import fit

    config = TrainConfig(data=store, out=tmp_path / "run", arch="u2net_small", arch_kwargs={"mid": 4, "width": 8},
                         epochs=2, batch_size=2, progress_bar=False, patience=0, out_channels=2,
                         loss={"spread": "gaussian_nll"}, stream=StreamConfig(steps_per_epoch=3))
    probe = _EpochProbe()
    result = fit(config, callbacks=[probe])
    assert result["global_step"] == 6 and len(probe.seen) == 6
    assert all(probe.seen), "each epoch must stream its own keys (set_epoch reaches the sampler before loading)"
    meta = json.loads(Path(result["model"] + ".json").read_text())
    assert meta["dataset_fingerprint"].startswith("stream-")
    assert meta["survey"]["stream"]["n_gal_arcmin2"] == [5.0, 100.0]
    assert meta["arch_kwargs"]["noise_encoding"] == "log" and meta["out_channels"] == 2
    lo, hi = meta["noise_range"]
    assert lo < 0.26 / np.sqrt(2 * 100 * 0.82**2) * 1.01 and hi > 0.4 / np.sqrt(2 * 5 * 0.82**2) * 0.99
    assert np.isfinite(result["metrics"]["val_loss"]) and "val_cover1s" in result["metrics"]


def test_train_command_stream_flags(store, tmp_path):
    import typer

    from miu2net.cli.train import train_command

    app = typer.Typer()
    app.command("train")(train_command)
    app.command("noop")(lambda: None)
    cfg = tmp_path / "train.yaml"
    cfg.write_text(yaml.safe_dump({"train": {"arch_kwargs": {"mid": 4, "width": 8}, "stream": {"masked_fraction": [0, 0.2]}}}))
    result = CliRunner().invoke(app, ["train", "--data", str(store), "--out", str(tmp_path / "run"), "--config", str(cfg),
                                      "--epochs", "1", "--batch-size", "2", "--steps-per-epoch", "2",
                                      "--n-gal-range", "10,40", "--spread-loss", "gaussian_nll", "--no-progress"])
    assert result.exit_code == 0, result.output
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    stream = run["train_config"]["stream"]
    assert stream["n_gal_arcmin2"] == [10.0, 40.0] and stream["masked_fraction"] == [0.0, 0.2]
    assert stream["steps_per_epoch"] == 2 and run["train_config"]["out_channels"] == 2
    bad = CliRunner().invoke(app, ["train", "--data", str(store), "--out", str(tmp_path / "r2"), "--no-stream",
                                   "--steps-per-epoch", "2"])
    assert bad.exit_code == 2 and "--stream" in bad.output
    # calibration on a fresh stream at the model's training depths (a stream the training never saw)
    from miu2net.cli.train import calibrate_command
    from miu2net.nn.checkpoint import load_model

    app.command("calibrate")(calibrate_command)
    result = CliRunner().invoke(app, ["calibrate", "--model", str(tmp_path / "run" / "model"), "--stream",
                                      "--data", str(store), "--n", "12", "--out", str(tmp_path / "run" / "calibrated")])
    assert result.exit_code == 0, result.output
    assert load_model(tmp_path / "run" / "model").calibration is None, "the trained model itself is left as it was"
    cal = load_model(tmp_path / "run" / "calibrated").calibration
    assert cal.n_maps == 12 and cal.data["kind"] == "stream" and cal.data["ranges"]["n_gal_arcmin2"] == [10.0, 40.0]
    assert cal.score == "abs_residual_over_sigma" and cal.quantile(0.9) > cal.quantile(0.68) > 0
