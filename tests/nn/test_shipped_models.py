"""The shipped models: they load without code execution, know their training, and behave on held-out
maps of their own survey (issues #8 and #10). Numbers of the full benchmark are in the model card; these
tests check what must hold on a handful of maps so that a broken export or calibration fails."""

import json
import warnings

import numpy as np
import pytest

from miu2net.config import preset
from miu2net.errors import DataConsistencyWarning, InputError
from miu2net.maps import ShearMap
from miu2net.methods import reconstruct
from miu2net.nn.checkpoint import MODELS_DIR, load_model
from miu2net.physics.operators import rotate_shear
from miu2net.physics.smoothing import gaussian_smooth
from miu2net.sims.simulate import simulate_sample

SHIPPED = ("miu2net-csst-quick", "deepmass-csst-quick")


def _config(n_gal=30.0):
    return preset("csst-small").updated(survey={"n_gal_arcmin2": n_gal, "noise_model": "poisson"})


@pytest.fixture(scope="module")
def samples():
    # Seeds far from any training key (training seeds come from SeedSequence draws).
    return [simulate_sample(_config(), 990_000 + i) for i in range(4)]


def _shear(s, *, g1=None, g2=None, noise_factor=1.0):
    mask = (s["mask"] > 0).astype(float)
    noise = np.where(mask > 0, s["noise"] / noise_factor, np.inf)
    return ShearMap(g1=s["g1"] if g1 is None else g1, g2=s["g2"] if g2 is None else g2, mask=mask, noise=noise,
                    pixel_arcmin=0.82)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_files(name):
    meta = json.loads((MODELS_DIR / f"{name}.json").read_text())
    assert meta["pixel_arcmin"] == 0.82 and meta["map_size"] == [128, 128]
    assert meta["survey"]["stream"]["n_gal_arcmin2"] == [5.0, 100.0]
    assert (MODELS_DIR / f"{name}.safetensors").stat().st_size < 20e6
    trained = load_model(name)
    assert trained.name == name


def test_shipped_miu2net_beats_ks_and_matches_the_truth(samples):
    """A working network: far below the raw KS error and correlated with the truth (r > 0.5)."""
    err_net, err_ks, r = [], [], []
    for s in samples:
        net = reconstruct(_shear(s), "miu2net").kappa_e
        ks = reconstruct(_shear(s), "ks").kappa_e
        t = s["kappa"] - s["kappa"].mean()
        err_net.append(np.sqrt(np.mean((net - net.mean() - t) ** 2)))
        err_ks.append(np.sqrt(np.mean((ks - ks.mean() - t) ** 2)))
        r.append(np.corrcoef(net.ravel(), t.ravel())[0, 1])
    assert np.mean(err_net) < 0.4 * np.mean(err_ks)  # measured 0.30
    assert np.mean(r) > 0.5


def test_shipped_deepmass_runs(samples):
    out = reconstruct(_shear(samples[0]), "deepmass")
    t = samples[0]["kappa"]
    assert np.corrcoef(out.kappa_e.ravel(), t.ravel())[0, 1] > 0.45


def test_shipped_calibration_good_data_is_ok_and_covered(samples):
    inside, total = 0, 0
    for s in samples:
        with warnings.catch_warnings():
            warnings.simplefilter("error", DataConsistencyWarning)
            out = reconstruct(_shear(s), "miu2net")
        assert out.meta["dataok"] is True and 0.85 < out.meta["chi2dof"] < 1.1
        inside += int(np.sum(np.abs(out.kappa_e - s["kappa"]) <= out.sigma))
        total += out.sigma.size
    assert 0.62 < inside / total < 0.74  # the 68 % interval, on 4 maps


@pytest.mark.parametrize("n_gal", [10.0, 30.0, 100.0])
@pytest.mark.parametrize("corruption", ["b_mode", "e2_sign", "noise_x5"])
def test_shipped_dataok_false_for_data_the_network_does_not_know(corruption, n_gal):
    """Pure B modes, a flipped e2 and a NOISE map five times too small give DATAOK = F at every depth
    from 10 to 100 galaxies/arcmin² (below ~10 the signal is too weak to tell, see nn/calibration.py)."""
    s = simulate_sample(_config(n_gal), 991_000 + int(n_gal))
    if corruption == "b_mode":
        g1, g2 = rotate_shear(s["g1"], s["g2"], np.pi / 4)
        shear = _shear(s, g1=g1 * (s["mask"] > 0), g2=g2 * (s["mask"] > 0))
    elif corruption == "e2_sign":
        shear = _shear(s, g2=-s["g2"])
    else:  # the data are five times noisier than the NOISE map states
        shear = _shear(s, noise_factor=5.0)
    options = {}
    if corruption == "noise_x5" and n_gal > 10:
        # The stated noise then lies below anything the model was trained on: refused outright, with
        # the reason; forced through, the data check flags it.
        with pytest.raises(InputError, match="median noise"):
            reconstruct(shear, "miu2net")
        options["allow_mismatch"] = True
    with pytest.warns(DataConsistencyWarning, match="DATAOK = F"):
        out = reconstruct(shear, "miu2net", **options)
    assert out.meta["dataok"] is False


# ---- the native model (issue #17): 0.41', two estimates, embedded fields, the N-body sky -------------

NATIVE = "miu2net-csst"


def _native_config(n_gal=30.0, truth="nbody"):
    return preset("csst").updated(survey={"n_gal_arcmin2": n_gal, "noise_model": "poisson", "map_size": 128},
                                  sim={"truth": truth})


@pytest.fixture(scope="module")
def native_samples():
    # Halo-model maps (the N-body sky would need the plane bank's test simulations, minutes of CPU on a
    # fresh machine; benchmarks/native.py measures it), seeds far from any training key.
    return [simulate_sample(_native_config(truth="halo_model"), 992_000 + i) for i in range(3)]


def _native_shear(s):
    mask = (s["mask"] > 0).astype(float)
    return ShearMap(g1=s["g1"], g2=s["g2"], mask=mask, noise=np.where(mask > 0, s["noise"], np.inf), pixel_arcmin=0.41)


def test_native_model_card():
    meta = json.loads((MODELS_DIR / f"{NATIVE}.json").read_text())
    assert meta["pixel_arcmin"] == 0.41 and meta["map_size"] == [128, 128] and meta["out_channels"] == 3
    stream = meta["survey"]["stream"]
    assert set(stream["mixture"]) == {"nbody", "halo_model", "gaussian"} and stream["outer_mask"][0] == 0.25
    assert len(meta["calibration"]["noise_edges"]) >= 1, "coverage conditioned on the noise level"
    assert (MODELS_DIR / f"{NATIVE}.safetensors").stat().st_size < 20e6
    trained = load_model(NATIVE)
    assert trained.has_power_map and trained.embed_fraction == 0.25
    # Whole-field: the Wiener map of the whole input is an input, and the network predicts the correction.
    assert "wiener" in meta["inputs"] and meta["arch_kwargs"]["residual"] is True and trained.model.residual
    assert stream["crop"] == 128 and stream["wiener"] is True, "trained on windows of whole 256² fields"
    record = meta["notes"]["trained"]
    assert record["maps_seen_total"] >= record["maps_seen"] > 0 and len(record["validation_curve"]) >= 2


def test_native_model_on_its_sky(native_samples):
    """The minimum-RMSE map well below raw KS and correlated with the truth; the power-faithful map keeps
    more small-scale power than the minimum-RMSE one; SIGMA covers about 68 % of the pixels."""
    err, err_ks, r, power_ratio, inside, total = [], [], [], [], 0, 0
    for s in native_samples:
        out = reconstruct(_native_shear(s), "miu2net")
        assert out.meta["model"] == NATIVE and out.meta["estimate"] == "mean"
        ks = reconstruct(_native_shear(s), "ks").kappa_e
        t = s["kappa"]
        err.append(np.sqrt(np.mean((out.kappa_e - t) ** 2)))
        err_ks.append(np.sqrt(np.mean((ks - ks.mean() - t + t.mean()) ** 2)))
        r.append(np.corrcoef(out.kappa_e.ravel(), t.ravel())[0, 1])
        power_ratio.append(np.var(out.kappa_power) / np.var(out.kappa_e))
        inside += int(np.sum(np.abs(out.kappa_e - t) <= out.sigma))
        total += t.size
    assert np.mean(err) < 0.3 * np.mean(err_ks)
    assert np.mean(r) > 0.25  # measured 0.34 on these three maps at 30/arcmin² (0.41' pixels are noisy)
    assert np.mean(power_ratio) > 1.1
    assert 0.5 < inside / total < 0.8  # the benchmark: 59 % (halo model) to 77 % (N-body) at 50/arcmin²


def test_native_model_keeps_the_whole_fields_large_scales():
    """On the survey's 256² grid the tiles carry the whole field's Wiener map: after 4′ smoothing (scales the
    128² tiles alone lose) the network's error is no larger than the Wiener filter's, on a field cut from a
    larger sky."""
    config = preset("csst").updated(survey={"n_gal_arcmin2": 30.0, "noise_model": "poisson"},
                                    sim={"truth": "halo_model"})
    ratios = []
    for seed in (994_001, 994_002):
        s = simulate_sample(config, seed)
        shear = _native_shear(s)
        t = s["kappa"] - s["kappa"].mean()
        errors = []
        for method in ("miu2net", "wiener"):
            k = reconstruct(shear, method).kappa_e
            diff = gaussian_smooth(k - k.mean() - t, sigma_arcmin=4.0, pixel_arcmin=0.41)
            errors.append(np.sqrt(np.mean(diff ** 2)))
        ratios.append(errors[0] / errors[1])
    assert np.mean(ratios) < 1.02, f"4′-smoothed error {np.mean(ratios):.3f} of the Wiener filter's"


def test_native_model_runs_on_the_survey_grid_and_on_a_small_field():
    s = simulate_sample(preset("csst").updated(survey={"n_gal_arcmin2": 30.0, "noise_model": "poisson"}), 993_001)
    shear = _native_shear(s)
    out = reconstruct(shear, "miu2net")
    assert out.shape == (256, 256) and out.meta["model"] == NATIVE and "binned" not in out.meta
    assert np.corrcoef(out.kappa_e.ravel(), s["kappa"].ravel())[0, 1] > 0.5
    cut = ShearMap(g1=shear.g1[:72, :90], g2=shear.g2[:72, :90], mask=shear.mask[:72, :90],
                   noise=shear.noise[:72, :90], pixel_arcmin=0.41)
    small = reconstruct(cut, "miu2net")  # 40 % of the model's field: embedded
    assert small.shape == (72, 90)
    assert np.corrcoef(small.kappa_e.ravel(), s["kappa"][:72, :90].ravel())[0, 1] > 0.4
