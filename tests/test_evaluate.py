"""The benchmark protocol end to end on a handful of small Gaussian fields."""

import json

import numpy as np
import pytest

from miu2net.evaluate import evaluate, markdown_table, write_report
from miu2net.config import preset
from miu2net.sims.fields import gaussian_field
from miu2net.sims.simulate import apply_survey


def _cl(ell):
    return 1e-9 * (ell / 1e3) ** -1.2


def _samples(n, rng, noise=True):
    config = preset("csst").updated(survey={"map_size": 64, "pixel_arcmin": 1.0, "noise_model": "gaussian",
                                            "n_gal_arcmin2": 30.0 if noise else 1e8, "mask": {"enabled": noise}})
    for i in range(n):
        kappa = gaussian_field((128, 128), 1.0, _cl, rng)  # a periodic box twice the map
        yield apply_survey(kappa, config, i, periodic=True)


def test_protocol_writes_every_product(tmp_path, rng):
    report = evaluate(_samples(4, rng), pixel_arcmin=1.0, methods=["ks"],
                      method_options={"ks": {"smooth_arcmin": 1.0}})
    assert report["n_maps"] == 4
    entry = report["methods"]["ks"]
    assert entry["rmse_smooth_2arcmin"] < entry["rmse_smooth_1arcmin"] < entry["rmse"]
    assert 0 < entry["pearson_r"] < 1 and entry["seconds_per_map"] > 0
    paths = write_report(report, tmp_path / "report", meta={"data": "synthetic"})
    for key in ("json", "markdown", "maps", "spectra", "pdf", "dynamic_range", "peaks"):
        assert paths[key].exists() and paths[key].stat().st_size > 100, key
    metrics = json.loads(paths["json"].read_text())
    assert metrics["methods"]["ks"]["rmse"] == pytest.approx(entry["rmse"])
    assert "| ks |" in markdown_table(report)


def test_noiseless_unmasked_ks_is_nearly_perfect(rng):
    # Without noise, KS recovers the (mean-free) truth up to the field-edge effects of the cut box
    # (zero padding loses the shear from beyond the field: on a 64² map 3-9 % of the power above five
    # times the fundamental mode, 20-40 % below it).
    report = evaluate(_samples(3, rng, noise=False), pixel_arcmin=1.0, methods=["ks"])
    entry = report["methods"]["ks"]
    assert entry["pearson_r"] > 0.9
    ratio = np.asarray(entry["cl_ratio"])
    ell_fund = 2 * np.pi / (64 * np.deg2rad(1 / 60))
    beyond = np.asarray(report["ell"]) > 5 * ell_fund
    assert np.all(np.abs(ratio[beyond] - 1) < 0.12)


def test_power_estimate_reuses_the_network_pass_and_matches_a_run_of_its_own(tmp_path, rng):
    """``miu2net:power`` is read from the ``miu2net`` run's second estimate: the same numbers as a separate
    ``estimate=power`` reconstruction."""
    import torch

    from miu2net.nn import create_model
    from miu2net.nn.checkpoint import save_model

    torch.manual_seed(0)
    net = create_model("u2net_small", mid=4, width=8, out_channels=3).eval()
    save_model(net, tmp_path / "two", pixel_arcmin=1.0, map_size=(64, 64), noise_range=(1e-3, 1.0),
               notes={"train_config": {"loss": {"two_estimates": True}}})
    samples = list(_samples(2, rng))
    model = str(tmp_path / "two")
    shared = evaluate(iter(samples), pixel_arcmin=1.0, methods=["miu2net", "miu2net:power"],
                      method_options={"miu2net": {"model": model}, "miu2net:power": {"model": model, "estimate": "power"}})
    alone = evaluate(iter(samples), pixel_arcmin=1.0, methods=["miu2net:power"],
                     method_options={"miu2net:power": {"model": model, "estimate": "power"}})
    for key in ("rmse", "rmse_smooth_1arcmin", "pearson_r", "cl_ratio"):
        np.testing.assert_allclose(shared["methods"]["miu2net:power"][key], alone["methods"]["miu2net:power"][key],
                                   rtol=1e-6, err_msg=f"{key}: the reused power-faithful map must be the same map")
    assert shared["methods"]["miu2net"]["rmse"] != shared["methods"]["miu2net:power"]["rmse"]
