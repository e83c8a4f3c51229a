"""The miu2net and deepmass methods: the common interface, tiles on large maps, and input checks."""

import numpy as np
import pytest
import torch
from torch import nn

from miu2net.errors import InputError
from miu2net.maps import ShearMap
from miu2net.methods import get_method, reconstruct
from miu2net.nn import create_model
from miu2net.nn.base import raw_from_shear
from miu2net.nn.checkpoint import load_model, resolve_model, save_model
from miu2net.nn.inference import predict_raw
from miu2net.sims.synthetic import synthetic_maps
from miu2net.tiling import feather, tile_starts

torch.set_num_threads(1)
PIXEL = 0.82
SIGMA = 0.0488  # pixel noise of synthetic_maps at 0.82' (csst numbers)


def _shear(size, *, pixel=PIXEL, noise=True, seed=0, noise_scale=1.0):
    m = synthetic_maps(1, size, pixel_arcmin=PIXEL, seed=seed)
    sigma = np.where(m["mask"][0] > 0, noise_scale * SIGMA, np.inf) if noise else None
    return ShearMap(g1=m["g1"][0], g2=m["g2"][0], mask=m["mask"][0], noise=sigma, pixel_arcmin=pixel)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    u2 = create_model("u2net_small", mid=4, width=8).eval()
    save_model(u2, d / "tiny-u2", pixel_arcmin=PIXEL, map_size=(32, 32), noise_range=(SIGMA, SIGMA))
    dm = create_model("deepmass", widths=(4, 8), bottleneck=8).eval()
    save_model(dm, d / "tiny-dm", pixel_arcmin=PIXEL, map_size=(32, 32), noise_range=(SIGMA, SIGMA))
    return d


def test_registered_in_methods():
    assert get_method("miu2net").reconstruct.__module__ == "miu2net.methods.miu2net"
    assert get_method("deepmass").reconstruct.__module__ == "miu2net.methods.deepmass"


def test_reconstruct_through_interface(models):
    shear = _shear(32)
    kappa = reconstruct(shear, "miu2net", model=str(models / "tiny-u2"))
    assert kappa.shape == (32, 32) and np.isfinite(kappa.kappa_e).all()
    assert kappa.meta["method"] == "miu2net" and kappa.meta["model_config"]["arch"] == "u2net_small"
    assert "chi2dof" in kappa.meta, "the common interface adds the data-consistency check"
    trained = load_model(models / "tiny-u2")
    with torch.no_grad():
        direct = trained.model(torch.from_numpy(raw_from_shear(shear))[None])[0, 0].numpy()
    np.testing.assert_allclose(kappa.kappa_e, direct, rtol=1e-5, atol=1e-7,
                               err_msg="a map of the model's size is one forward pass")
    deep = reconstruct(shear, "deepmass", model=str(models / "tiny-dm"), b_mode="zero")
    assert deep.meta["method"] == "deepmass" and not deep.kappa_b.any()
    with pytest.raises(InputError, match="not a deepmass"):
        reconstruct(shear, "deepmass", model=str(models / "tiny-u2"))


def test_tiling_blends_to_the_exact_map():
    """A pointwise 'network' (returns g1) must come back exactly from feathered, overlapping tiles."""

    class PassThrough(nn.Module):
        def forward(self, raw):
            return raw[:, :1] * 2.0

    rng = np.random.default_rng(1)
    raw = rng.standard_normal((4, 90, 70)).astype(np.float32)
    raw[2] = 1.0
    out = predict_raw(PassThrough(), raw, tile=(32, 32), overlap=8, batch_size=3)
    np.testing.assert_allclose(out[0], 2.0 * raw[0], rtol=1e-6)
    assert tile_starts(90, 32, 8)[-1] == 58 and tile_starts(32, 32, 8) == [0]
    w = feather((32, 32), 8, y_inner=(False, True), x_inner=(True, True))
    assert w[0, 16] == 1.0 and w[-1, 16] < 0.1 and w[16, 0] < 0.1


def test_large_map_in_tiles(models):
    shear = _shear(80, seed=2)
    kappa = reconstruct(shear, "miu2net", model=str(models / "tiny-u2"), batch_size=4, network_overlap=8)
    assert kappa.shape == (80, 80) and np.isfinite(kappa.kappa_e).all()
    # the central tile region agrees with a direct pass on that tile far from blended borders
    trained = load_model(models / "tiny-u2")
    raw = raw_from_shear(shear)
    with torch.no_grad():
        first = trained.model(torch.from_numpy(raw[:, :32, :32])[None])[0, 0].numpy()
    np.testing.assert_allclose(kappa.kappa_e[:24, :24], first[:24, :24], rtol=1e-5, atol=1e-7)
    net_b = reconstruct(shear, "miu2net", model=str(models / "tiny-u2"), b_mode="network")
    assert np.isfinite(net_b.kappa_b).all() and not np.allclose(net_b.kappa_b, kappa.kappa_b)


def test_mismatch_refused_unless_allowed(models):
    model = str(models / "tiny-u2")
    with pytest.raises(InputError, match="pixel scale"):
        reconstruct(_shear(32, pixel=0.5), "miu2net", model=model)
    with pytest.raises(InputError, match="smaller than.*binned 2x2"):  # 0.41' is binned to 16x16 first
        reconstruct(_shear(32, pixel=0.41), "miu2net", model=model)
    with pytest.raises(InputError, match="smaller than"):
        reconstruct(_shear(24), "miu2net", model=model)
    with pytest.raises(InputError, match="noise"):
        reconstruct(_shear(32, noise_scale=3.0), "miu2net", model=model)
    with pytest.raises(InputError, match="NOISE"):
        reconstruct(_shear(32, noise=False), "miu2net", model=model)
    small = reconstruct(_shear(24, pixel=0.5, noise=False), "miu2net", model=model, allow_mismatch=True)
    assert small.shape == (24, 24) and len(small.meta["mismatch"]) == 4
    assert reconstruct(_shear(32, noise_scale=1.1), "miu2net", model=model).meta.get("mismatch") is None


def test_model_resolution_and_pickles(models, tmp_path):
    weights, meta = resolve_model("tiny-u2", models_dir=models)
    assert weights.name == "tiny-u2.safetensors" and meta.name == "tiny-u2.json"
    with pytest.raises(InputError, match="no model"):
        reconstruct(_shear(32), "miu2net", model="no-such-model")
    torch.save(create_model("deepmass").state_dict(), tmp_path / "x.pt")
    with pytest.raises(InputError, match="pickle"):
        reconstruct(_shear(32), "deepmass", model=str(tmp_path / "x.pt"))
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA"):
            reconstruct(_shear(32), "miu2net", model=str(models / "tiny-u2"), device="cuda")
