"""Calibrated uncertainty: the spread loss, split conformal calibration of a model, its storage in the model's JSON,
SIGMA/SNR/DATAOK in the reconstructed FITS, and DATAOK = F for data the network does not know."""

import json
import warnings

import numpy as np
import pytest
import torch
import typer
from astropy.io import fits
from typer.testing import CliRunner

from miu2net.cli import app
from miu2net.config import LossConfig, TrainConfig
from miu2net.errors import InputError
from miu2net.evaluate import shear_of_sample
from miu2net.io import write_shear_map
from miu2net.methods import reconstruct
from miu2net.nn import create_model
from miu2net.nn.calibration import (
    Calibration,
    DataConsistencyWarning,
    calibrate,
    evaluate_coverage,
    pixel_classes,
    save_calibration,
)
from miu2net.nn.checkpoint import load_model, save_model
from miu2net.nn.data import ArrayMapDataset, MassMapDataModule, save_npz_dataset
from miu2net.nn.losses import MassMappingLoss
from miu2net.physics.operators import rotate_shear
from miu2net.sims.synthetic import synthetic_maps

torch.set_num_threads(1)
PIXEL = 0.82
# A signal-dominated synthetic survey (kappa rms ~0.13, pixel noise 0.034), so that a network trained for
# seconds already explains most of the shear and the corrupted inputs stand out clearly in chi2.
AMPLITUDE, N_GAL = 1e-8, 100.0
SPLIT = np.repeat([0, 1, 1, 2], [64, 16, 60, 60])  # train, val (16 validate + 60 calibrate), test
runner = CliRunner()


# ---- a tiny calibrated model --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def maps():
    return synthetic_maps(200, 32, pixel_arcmin=PIXEL, n_gal_arcmin2=N_GAL, amplitude=AMPLITUDE, seed=3)


@pytest.fixture(scope="module")
def trained(maps, tmp_path_factory):
    """A 2-output U²-Net trained for ~10 s with MSE + spectrum + Gaussian NLL, and its untrained twin."""
    from miu2net.nn.module import fit

    d = tmp_path_factory.mktemp("calib")
    store = save_npz_dataset(d / "maps.npz", maps, pixel_arcmin=PIXEL, split=SPLIT)
    splits = {k: ArrayMapDataset(maps, pixel_arcmin=PIXEL, indices=np.flatnonzero(SPLIT == c)) for k, c in
              (("train", 0), ("val", 1), ("test", 2))}
    val = ArrayMapDataset(maps, pixel_arcmin=PIXEL, indices=np.flatnonzero(SPLIT == 1)[:16])
    dm = MassMapDataModule(splits["train"], val, batch_size=8)
    config = TrainConfig(out=d / "run", arch="u2net_small", arch_kwargs={"mid": 4, "width": 8}, epochs=10, batch_size=8,
                         lr=1e-2, progress_bar=False, patience=0, out_channels=2, loss=LossConfig(spread="gaussian_nll"))
    result = fit(config, datamodule=dm)
    return {"dir": d, "model": result["model"], "metrics": result["metrics"], "store": store, "splits": splits,
            "config": config, "dm": dm, "calibration_set": np.flatnonzero(SPLIT == 1)[16:]}


def test_nll_loss_decreases(trained):
    import lightning as L

    from miu2net.nn.module import MassMappingModule

    run = json.loads((trained["dir"] / "run" / "run.json").read_text())
    L.seed_everything(0, verbose=False)
    untrained = MassMappingModule("u2net_small", run["arch_kwargs"], pixel_arcmin=PIXEL,
                                  loss=trained["config"].loss.loss_kwargs())
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    before = trainer.validate(untrained, datamodule=trained["dm"], verbose=False)[0]
    after = trained["metrics"]
    assert after["val_nll"] < before["val_nll"] - 0.25, f"NLL {before['val_nll']:.3f} -> {after['val_nll']:.3f}"
    assert 0.55 < after["val_cover1s"] < 0.85, "the raw spread is already roughly a 1-sigma width"
    # the NLL alone moves only the spread channel by default (detached mean)
    loss = MassMappingLoss(pixel_arcmin=PIXEL, spatial_weight=0.0, freq_weight=0.0 + 1e-12, spread="gaussian_nll")
    out = torch.zeros(2, 2, 8, 8, requires_grad=True)
    total, parts = loss(out, torch.full((2, 1, 8, 8), 2.0))
    total.backward()
    assert float(out.grad[:, 0].abs().max()) == 0.0 and float(out.grad[:, 1].abs().max()) > 0
    assert float(parts["nll"]) == pytest.approx(2.0), "0.5 r^2 exp(-2s) + s at r = 2, s = 0"


@pytest.fixture(scope="module")
def calibrated(trained, maps):
    cal_idx = trained["calibration_set"]
    samples = ArrayMapDataset(maps, pixel_arcmin=PIXEL, indices=cal_idx)
    calibration = calibrate(trained["model"], (samples[i] for i in range(len(samples))), pixel_arcmin=PIXEL,
                            data={"kind": "test"})
    save_calibration(trained["model"], calibration)
    return calibration


def test_conformal_coverage_on_held_out_maps(trained, calibrated):
    test = trained["splits"]["test"]
    report = evaluate_coverage(trained["model"], [test[i] for i in range(len(test))])
    print("held-out coverage", {k: report[k] for k in ("all", "observed", "masked", "edge")})
    for level in ("0.68", "0.9", "0.95"):
        assert abs(report["all"][level] - float(level)) < 0.03, f"coverage at {level}: {report['all'][level]:.3f}"
        for region in ("observed", "masked", "edge"):
            assert abs(report[region][level] - float(level)) < 0.05, f"{region} coverage at {level}"
    assert report["mean_half_width"]["0.9"] > report["mean_half_width"]["0.68"]
    assert np.mean(report["dataok"]) >= 0.9, "held-out maps like the calibration ones are accepted"
    lo, hi = calibrated.chi2dof["range"]
    assert lo < np.median(report["chi2dof"]) < hi


def test_calibration_json_round_trip(trained, calibrated, tmp_path):
    again = Calibration.from_dict(json.loads(json.dumps(calibrated.to_dict())))
    for key, table in calibrated.quantiles.items():
        if table is None:
            assert again.quantiles[key] is None
        else:
            np.testing.assert_array_equal(again.quantiles[key], table)
    assert again.chi2dof == calibrated.chi2dof and again.edge_pixels == calibrated.edge_pixels
    loaded = load_model(trained["model"])
    assert loaded.config["calibration"]["method"] == "split-conformal"
    assert loaded.calibration.quantile(0.9) == pytest.approx(calibrated.quantile(0.9))
    q = [loaded.calibration.quantile(c) for c in (0.5, 0.68, 0.683, 0.9, 0.95, 0.999)]
    assert np.all(np.diff(q) > 0), "any coverage of the grid, interpolated, increasing"
    with pytest.raises(InputError, match="coverage"):
        loaded.calibration.quantile(0.9999)
    # a copy elsewhere, and models without calibration or noise_encoding load as before
    save_calibration(trained["model"], calibrated, out=tmp_path / "copy")
    assert load_model(tmp_path / "copy").calibration is not None
    net = create_model("u2net_small", mid=4, width=8).eval()
    save_model(net, tmp_path / "old", pixel_arcmin=PIXEL, map_size=(32, 32))
    meta = json.loads((tmp_path / "old.json").read_text())
    del meta["arch_kwargs"]["noise_encoding"]  # as written before the option existed
    (tmp_path / "old.json").write_text(json.dumps(meta))
    from safetensors.torch import load_file, save_file

    state = load_file(tmp_path / "old.safetensors")
    save_file(state, tmp_path / "old.safetensors", metadata={"format": "miu2net-model", "config": json.dumps(meta)})
    old = load_model(tmp_path / "old")
    assert old.calibration is None and old.model.noise_encoding == "inverse"


# ---- reconstruct: SIGMA, SNR, CHI2DOF, DATAOK --------------------------------------------------------------


def _nominal(trained, maps, calibrated):
    """A calibration-set map whose CHI2DOF lies well inside the calibrated range."""
    idx = trained["calibration_set"]
    samples = [ArrayMapDataset(maps, pixel_arcmin=PIXEL, indices=idx)[i] for i in range(len(idx))]
    report = evaluate_coverage(trained["model"], samples, coverages=(0.68,))
    order = np.argsort(report["chi2dof"])
    return samples[int(order[len(order) // 2])]


def _header(path):
    with fits.open(path) as hdul:
        return dict(hdul[0].header), {h.name: np.array(h.data) for h in hdul[1:]}


def test_reconstruct_writes_sigma_snr_and_dataok(trained, maps, calibrated, tmp_path):
    sample = _nominal(trained, maps, calibrated)
    shear = shear_of_sample(sample, PIXEL)
    write_shear_map(shear, tmp_path / "shear.fits")
    model = trained["model"]
    result = runner.invoke(app, ["reconstruct", str(tmp_path / "shear.fits"), "-o", str(tmp_path / "k.fits"),
                                 "--method", "miu2net", "--option", f"model={model}"])
    assert result.exit_code == 0, result.output
    header, planes = _header(tmp_path / "k.fits")
    assert {"KAPPA_E", "KAPPA_B", "SIGMA", "SNR"} <= set(planes)
    assert header["DATAOK"] is True and header["COVERAGE"] == 0.68
    lo, hi = calibrated.chi2dof["range"]
    assert lo <= header["CHI2DOF"] <= hi
    sigma = planes["SIGMA"]
    assert np.all(sigma > 0) and np.all(np.isfinite(sigma))
    np.testing.assert_allclose(planes["SNR"], planes["KAPPA_E"] / sigma, rtol=1e-4)
    # the 68 % interval holds about 68 % of the true pixels of this map
    inside = np.abs(sample["kappa"] - planes["KAPPA_E"]) <= sigma
    assert 0.55 < inside.mean() < 0.8
    result = runner.invoke(app, ["reconstruct", str(tmp_path / "shear.fits"), "-o", str(tmp_path / "k90.fits"),
                                 "--method", "miu2net", "--option", f"model={model}", "--option", "coverage=0.9"])
    assert result.exit_code == 0, result.output
    header90, planes90 = _header(tmp_path / "k90.fits")
    ratio = calibrated.quantile(0.9, "observed") / calibrated.quantile(0.68, "observed")
    obs = (sample["mask"] > 0) & (pixel_classes(sample["mask"], calibrated.edge_pixels) == 0)
    np.testing.assert_allclose(planes90["SIGMA"][obs] / sigma[obs], ratio, rtol=1e-4)
    assert header90["COVERAGE"] == 0.9


def test_noise_realisations_and_wide_field_tiles(trained, maps, calibrated, tmp_path):
    """Noise-only realisations raise no consistency warning; tiles are judged as one map."""
    from miu2net.pipeline import reconstruct_file

    sample = _nominal(trained, maps, calibrated)
    write_shear_map(shear_of_sample(sample, PIXEL), tmp_path / "shear.fits")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataConsistencyWarning)
        kappa, _ = reconstruct_file(tmp_path / "shear.fits", method="miu2net", options={"model": trained["model"]},
                                    noise_realisations=3)
    assert kappa.meta["dataok"] is True and kappa.sigma_noise is not None and kappa.sigma is not None
    wide = synthetic_maps(1, 64, pixel_arcmin=PIXEL, n_gal_arcmin2=N_GAL, amplitude=AMPLITUDE, seed=99)
    write_shear_map(shear_of_sample({k: v[0] for k, v in wide.items()}, PIXEL), tmp_path / "wide.fits")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataConsistencyWarning)
        tiled, _ = reconstruct_file(tmp_path / "wide.fits", method="miu2net", options={"model": trained["model"]},
                                    tile=32, tile_overlap=8)
    lo, hi = calibrated.chi2_range()
    assert tiled.meta["dataok"] is bool(lo <= tiled.meta["chi2dof"] <= hi), "DATAOK of the whole map's CHI2DOF"


def test_uncalibrated_model_has_no_sigma_nor_dataok(tmp_path):
    net = create_model("u2net_small", mid=4, width=8, out_channels=2).eval()
    save_model(net, tmp_path / "raw", pixel_arcmin=PIXEL, map_size=(32, 32))
    m = synthetic_maps(1, 32, pixel_arcmin=PIXEL, seed=1)
    shear = shear_of_sample({k: v[0] for k, v in m.items()}, PIXEL)
    kappa = reconstruct(shear, "miu2net", model=str(tmp_path / "raw"), allow_mismatch=True)
    assert kappa.sigma is None and "dataok" not in kappa.meta and "chi2dof" in kappa.meta
    # a one-output network calibrates to constant-width intervals (per pixel class)
    single = create_model("u2net_small", mid=4, width=8).eval()
    save_model(single, tmp_path / "one", pixel_arcmin=PIXEL, map_size=(32, 32))
    many = synthetic_maps(8, 32, pixel_arcmin=PIXEL, seed=2)
    cal = calibrate(tmp_path / "one", ({k: v[i] for k, v in many.items()} for i in range(8)))
    save_calibration(tmp_path / "one", cal)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataConsistencyWarning)
        out = reconstruct(shear, "miu2net", model=str(tmp_path / "one"), allow_mismatch=True, coverage=0.9)
    interior = pixel_classes(shear.mask, cal.edge_pixels) == 0
    assert cal.score == "abs_residual" and np.allclose(out.sigma[interior], cal.quantile(0.9, "observed"))


@pytest.mark.parametrize("corruption", ["b_mode", "e2_sign", "noise_x5"])
def test_dataok_false_for_data_the_network_does_not_know(trained, maps, calibrated, tmp_path, corruption):
    sample = dict(_nominal(trained, maps, calibrated))
    shear = shear_of_sample(sample, PIXEL)
    if corruption == "b_mode":  # every E mode turned into a B mode
        g1, g2 = rotate_shear(shear.g1, shear.g2, np.pi / 4)
    elif corruption == "e2_sign":
        g1, g2 = shear.g1, -shear.g2
    else:  # five times the noise the NOISE map states
        rng = np.random.default_rng(7)
        sigma = np.where(shear.observed, shear.noise, 0.0)
        g1 = sample["g1_noiseless"] + 5 * sigma * rng.standard_normal(sigma.shape)
        g2 = sample["g2_noiseless"] + 5 * sigma * rng.standard_normal(sigma.shape)
    bad = shear.with_shear(g1 * shear.mask, g2 * shear.mask)
    with pytest.warns(DataConsistencyWarning, match="DATAOK = F"):
        kappa = reconstruct(bad, "miu2net", model=trained["model"])
    lo, hi = calibrated.chi2dof["range"]
    print(corruption, "CHI2DOF", kappa.meta["chi2dof"], "calibrated range", (lo, hi))
    assert kappa.meta["dataok"] is False and not lo <= kappa.meta["chi2dof"] <= hi
    write_shear_map(bad, tmp_path / "bad.fits")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataConsistencyWarning)
        result = runner.invoke(app, ["reconstruct", str(tmp_path / "bad.fits"), "-o", str(tmp_path / "k.fits"),
                                     "--method", "miu2net", "--option", f"model={trained['model']}"])
    assert result.exit_code == 0, result.output
    header, planes = _header(tmp_path / "k.fits")
    assert header["DATAOK"] is False and "SIGMA" in planes


# ---- the calibrate command ---------------------------------------------------------------------------------


def test_calibrate_command(trained, tmp_path):
    from miu2net.cli.train import calibrate_command

    cli = typer.Typer()
    cli.command("calibrate")(calibrate_command)
    cli.command("noop")(lambda: None)
    out = tmp_path / "calibrated"
    result = runner.invoke(cli, ["calibrate", "--model", trained["model"], "--data", str(trained["store"]),
                                 "--split", "val", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "coverage 0.9" in result.output and "CHI2DOF accepted range" in result.output
    cal = load_model(out).calibration
    assert cal.n_maps == 76 and cal.data["split"] == "val"
    refused = runner.invoke(cli, ["calibrate", "--model", trained["model"], "--data", str(trained["store"]),
                                  "--split", "train", "--out", str(tmp_path / "x")])
    assert refused.exit_code == 2 and "training set" in refused.output


