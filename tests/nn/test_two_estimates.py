"""Issue #17's machinery: two estimates from one network, fine-tuning from a shipped model, fields
smaller than the model's (embedded, trained with outer masks), the mixture stream and the model chosen
by the input's pixel (the noise-conditioned calibration: tests/nn/test_conformal.py)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from miu2net.config import load_config, preset
from miu2net.errors import InputError
from miu2net.io import read_kappa_map, write_kappa_map
from miu2net.maps import ShearMap
from miu2net.methods import reconstruct
from miu2net.nn import create_model
from miu2net.nn.checkpoint import load_model, save_model
from miu2net.nn.inference import default_model_for
from miu2net.nn.losses import MassMappingLoss
from miu2net.nn.module import initialise_from
from miu2net.sims.stream import SimulationStream, outer_footprint
from miu2net.sims.synthetic import synthetic_maps

torch.set_num_threads(1)
PIXEL = 0.82
SIGMA = 0.0488


# ---- the loss of two estimates --------------------------------------------------------------------


def test_two_estimate_loss_keeps_the_spectrum_off_the_mean_channel():
    """Channel 0 (the minimum-RMSE map) gets the MSE gradient only; the spectral term reaches channel 2."""
    torch.manual_seed(0)
    out = torch.randn(2, 3, 32, 32, requires_grad=True)
    target = torch.randn(2, 1, 32, 32)
    mse_only = MassMappingLoss(pixel_arcmin=PIXEL, freq_weight=0.0, power_channel=2)
    both = MassMappingLoss(pixel_arcmin=PIXEL, freq_weight=0.5, power_channel=2)
    g_mse = torch.autograd.grad(mse_only(out, target)[0], out)[0]
    g_both = torch.autograd.grad(both(out, target)[0], out)[0]
    torch.testing.assert_close(g_both[:, 0], g_mse[:, 0])
    assert (g_both[:, 2] - g_mse[:, 2]).abs().max() > 1e-6, "the spectral term must reach the power channel"
    assert g_mse[:, 1].abs().max() == 0  # no spread loss asked
    # One-estimate loss: the spectral term acts on channel 0.
    single = MassMappingLoss(pixel_arcmin=PIXEL, freq_weight=0.5)
    g_single = torch.autograd.grad(single(out, target)[0], out)[0]
    assert (g_single[:, 0] - g_mse[:, 0]).abs().max() > 1e-6
    with pytest.raises(InputError, match="power_channel"):
        MassMappingLoss(pixel_arcmin=PIXEL, power_channel=1, spread="gaussian_nll")
    with pytest.raises(InputError, match="out_channels=3"):
        both(out[:, :2], target)


def test_fine_tuning_starts_both_estimates_as_the_source_kappa(tmp_path):
    torch.manual_seed(1)
    src = create_model("u2net_small", mid=4, width=8, out_channels=2, inputs=("g1", "g2", "mask", "noise", "ks"),
                       noise_encoding="log").eval()
    with torch.no_grad():  # make the fuse layer read every side channel, as a trained one does
        src.fuse.weight.add_(0.05 * torch.randn_like(src.fuse.weight))
    save_model(src, tmp_path / "src", pixel_arcmin=PIXEL, map_size=(32, 32))
    dst = create_model("u2net_small", mid=4, width=8, out_channels=3, inputs=("g1", "g2", "mask", "noise", "ks"),
                       noise_encoding="log").eval()
    counts = initialise_from(dst, tmp_path / "src")
    assert counts["skipped"] == 0 and counts["expanded"] == 14  # 6 side convs + fuse, weights and biases
    raw = torch.zeros(2, 4, 32, 32)
    raw[:, :2] = 0.05 * torch.randn(2, 2, 32, 32)
    raw[:, 2], raw[:, 3] = 1.0, SIGMA
    with torch.no_grad():
        a, b = src(raw), dst(raw)
    torch.testing.assert_close(b[:, :2], a)
    torch.testing.assert_close(b[:, 2], a[:, 0])


# ---- small fields embedded, two estimates written ----------------------------------------------------


def _shear(size, seed=0):
    m = synthetic_maps(1, size, pixel_arcmin=PIXEL, seed=seed)
    return ShearMap(g1=m["g1"][0], g2=m["g2"][0], mask=m["mask"][0], noise=np.where(m["mask"][0] > 0, SIGMA, np.inf),
                    pixel_arcmin=PIXEL)


@pytest.fixture(scope="module")
def two_estimate_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("native")
    torch.manual_seed(0)
    net = create_model("u2net_small", mid=4, width=8, out_channels=3, inputs=("g1", "g2", "mask", "noise", "ks"),
                       noise_encoding="log").eval()
    survey = {**preset("csst-small").survey.model_dump(mode="json"), "map_size": 32,
              "stream": {"n_gal_arcmin2": [5.0, 100.0], "shape_noise_sigma": [0.26, 0.4],
                         "masked_fraction": [0.0, 0.35], "outer_mask": [0.25, 1.0], "outer_mask_probability": 0.25}}
    save_model(net, d / "two", pixel_arcmin=PIXEL, map_size=(32, 32), noise_range=(SIGMA, SIGMA), survey=survey,
               notes={"train_config": {"loss": {"two_estimates": True}}})
    save_model(net, d / "plain", pixel_arcmin=PIXEL, map_size=(32, 32), noise_range=(SIGMA, SIGMA))
    return d


def test_small_fields_are_embedded_when_the_model_was_trained_for_them(two_estimate_model):
    trained = load_model(two_estimate_model / "two")
    assert trained.embed_fraction == 0.25 and trained.has_power_map
    small = _shear(20)  # 39 % of the model's field
    kappa = reconstruct(small, "miu2net", model=trained)
    assert kappa.shape == (20, 20) and np.isfinite(kappa.kappa_e).all()
    # The same as running the network on the map embedded (centred) in its field, cropped back.
    big = ShearMap(g1=np.pad(small.g1, 6), g2=np.pad(small.g2, 6), mask=np.pad(small.mask, 6),
                   noise=np.pad(small.noise, 6, constant_values=np.inf), pixel_arcmin=PIXEL)
    whole = reconstruct(big, "miu2net", model=trained)
    np.testing.assert_allclose(kappa.kappa_e, whole.kappa_e[6:26, 6:26], atol=1e-7)
    np.testing.assert_allclose(kappa.kappa_power, whole.kappa_power[6:26, 6:26], atol=1e-7)
    with pytest.raises(InputError, match="trained for embedded footprints"):
        reconstruct(_shear(14), "miu2net", model=trained)  # 19 % of the field
    assert trained.min_embedded_side == 12  # sqrt(0.25 / 2) of 32: the thinnest footprint trained on
    strip = _shear(40)
    strip = ShearMap(g1=strip.g1[:, :10], g2=strip.g2[:, :10], mask=strip.mask[:, :10], noise=strip.noise[:, :10],
                     pixel_arcmin=PIXEL)
    with pytest.raises(InputError, match="at least 12 pixels per side"):
        reconstruct(strip, "miu2net", model=trained)
    with pytest.raises(InputError, match="smaller than the model's training size"):
        reconstruct(small, "miu2net", model=load_model(two_estimate_model / "plain"))


def test_both_estimates_reach_the_fits_file(two_estimate_model, tmp_path):
    trained = load_model(two_estimate_model / "two")
    shear = _shear(32, seed=3)
    mean = reconstruct(shear, "miu2net", model=trained)
    power = reconstruct(shear, "miu2net", model=trained, estimate="power")
    assert mean.meta["estimate"] == "mean" and power.meta["estimate"] == "power"
    np.testing.assert_array_equal(power.kappa_e, mean.kappa_power)
    np.testing.assert_array_equal(power.kappa_mean, mean.kappa_e)
    assert power.sigma is None, "SIGMA is calibrated for the minimum-RMSE map only"
    write_kappa_map(mean, tmp_path / "mean.fits")
    write_kappa_map(power, tmp_path / "power.fits")
    back, back_p = read_kappa_map(tmp_path / "mean.fits"), read_kappa_map(tmp_path / "power.fits")
    np.testing.assert_allclose(back.kappa_power, mean.kappa_power, rtol=1e-6, atol=1e-9)
    assert back.kappa_mean is None and back.meta["estimate"] == "mean"
    np.testing.assert_allclose(back_p.kappa_mean, mean.kappa_e, rtol=1e-6, atol=1e-9)
    assert back_p.meta["estimate"] == "power"
    with pytest.raises(InputError, match="one estimate only"):
        reconstruct(shear, "miu2net", model=load_model(two_estimate_model / "plain"), estimate="power")
    with pytest.raises(InputError, match="estimate must be one of"):
        reconstruct(shear, "miu2net", model=trained, estimate="median")


def test_tiles_keep_the_second_estimate(two_estimate_model):
    from miu2net.tiling import reconstruct_tiled

    trained = load_model(two_estimate_model / "two")
    shear = _shear(56, seed=5)
    tiled = reconstruct_tiled(shear, lambda t: reconstruct(t, "miu2net", model=trained), tile=32, overlap=8)
    assert tiled.kappa_power is not None and tiled.kappa_power.shape == (56, 56)
    whole = reconstruct(shear, "miu2net", model=trained, network_overlap=8)
    # Both blend the same tiles; the tiler also aligns their mass sheets, by the same offsets for both maps.
    np.testing.assert_allclose(tiled.kappa_power - tiled.kappa_e, whole.kappa_power - whole.kappa_e, atol=1e-6)


def test_the_shipped_model_follows_the_input_pixel():
    assert default_model_for("miu2net", 0.41) == "miu2net-csst"
    assert default_model_for("miu2net", 0.82) == "miu2net-csst-quick"
    assert default_model_for("miu2net", 0.205) == "miu2net-csst"  # bins 2x2 to the native model
    assert default_model_for("miu2net", 1.0) == "miu2net-csst"  # the default; it then refuses the pixel
    assert default_model_for("deepmass", 0.41) == "deepmass-csst-quick"


# ---- the mixture stream and outer masks -----------------------------------------------------------


def test_outer_footprint_covers_the_asked_fraction():
    rng = np.random.default_rng(0)
    for fraction in (0.25, 0.5, 0.9):
        fp = outer_footprint((64, 64), fraction, rng)
        ys, xs = np.nonzero(fp)
        assert fp.sum() == (np.ptp(ys) + 1) * (np.ptp(xs) + 1), "a rectangle"
        assert abs(fp.mean() - fraction) < 0.06


def test_mixture_stream_draws_every_kind_and_masks_the_outside():
    cfg = preset("csst-small").updated(survey={"map_size": 32}, sim={"halos": {"mass_min": 3e14}})
    stream = SimulationStream(cfg, mixture={"halo_model": 1.0, "gaussian": 1.0}, outer_mask=(0.25, 0.5),
                              outer_mask_probability=1.0, n_gal_arcmin2=(50.0, 50.0), masked_fraction=(0.0, 0.0),
                              views_per_truth=2)
    kinds = [stream.truth_kind(0, b) for b in range(40)]
    assert 10 < kinds.count("gaussian") < 30 and set(kinds) == {"halo_model", "gaussian"}
    for i in range(4):
        s = stream[(0, i)]
        assert 0.2 < s["mask"].mean() <= 0.52
        assert not s["g1"][s["mask"] == 0].any()
        assert s["kappa"][s["mask"] == 0].std() > 0, "the truth continues outside the footprint"
        np.testing.assert_array_equal(s["g1"], stream[(0, i)]["g1"])  # deterministic
    assert stream.ranges["mixture"] == {"halo_model": 0.5, "gaussian": 0.5}
    with pytest.raises(InputError, match="mixture"):
        SimulationStream(cfg, mixture={"lognormal": 1.0})
    with pytest.raises(InputError, match="outer_mask"):
        SimulationStream(cfg, outer_mask=(0.0, 0.5))


def test_native_configs_read():
    cfg = load_config(Path(__file__).resolve().parents[2] / "configs" / "sims" / "csst-native.yaml")
    assert cfg.survey.pixel_arcmin == 0.41 and cfg.survey.map_size == 128


# ---- BatchNorm: frozen while training, statistics averaged over training batches ---------------------


def test_frozen_batchnorm_and_its_statistics():
    from miu2net.nn.module import MassMappingModule, calibrate_batchnorm

    module = MassMappingModule("u2net_small", {"mid": 4, "width": 8, "out_channels": 1}, pixel_arcmin=PIXEL,
                               freeze_batchnorm=True)
    module.train()
    norms = [m for m in module.model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    convs = [m for m in module.model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert norms and not any(m.training for m in norms) and all(m.training for m in convs)
    torch.manual_seed(0)
    batches = [(torch.randn(3, 4, 32, 32) + shift, None) for shift in (0.0, 2.0)]
    first = module.model.encoder_stages[0].conv_in  # Conv -> BatchNorm -> ReLU
    used = calibrate_batchnorm(module.model, batches + batches, 2)
    assert used == 2
    with torch.no_grad():
        means = [first[0](module.model.encoder(raw)).mean(dim=(0, 2, 3)) for raw, _ in batches]
    torch.testing.assert_close(first[1].running_mean, (means[0] + means[1]) / 2, rtol=1e-4, atol=1e-5)
    assert first[1].momentum == 0.1, "the layer's own momentum is restored"
