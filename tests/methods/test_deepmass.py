"""The DeepMass method: a U-Net on the KS map, served by the trained-model inference."""

import numpy as np
import pytest
import torch

from miu2net.errors import InputError
from miu2net.maps import ShearMap
from miu2net.methods import deepmass as method
from miu2net.methods import get_method
from miu2net.methods.base import TrainedMethod
from miu2net.nn import create_model
from miu2net.nn.base import raw_from_shear
from miu2net.nn.checkpoint import save_model
from miu2net.sims.synthetic import synthetic_maps

torch.set_num_threads(1)
PIXEL, SIGMA = 0.82, 0.0488


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("deepmass")
    torch.manual_seed(0)
    model = create_model("deepmass", widths=(4, 8), bottleneck=8).eval()
    save_model(model, d / "tiny", pixel_arcmin=PIXEL, map_size=(32, 32), noise_range=(SIGMA, SIGMA))
    u2 = create_model("u2net_small", mid=4, width=8).eval()
    save_model(u2, d / "u2", pixel_arcmin=PIXEL, map_size=(32, 32), noise_range=(SIGMA, SIGMA))
    m = synthetic_maps(1, 32, pixel_arcmin=PIXEL, seed=3)
    shear = ShearMap(g1=m["g1"][0], g2=m["g2"][0], mask=m["mask"][0], pixel_arcmin=PIXEL,
                     noise=np.where(m["mask"][0] > 0, SIGMA, np.inf))
    return {"dir": d, "model": model, "shear": shear}


def test_registered_as_a_trained_method_of_the_deepmass_family():
    spec = get_method("deepmass")
    assert spec is method.METHOD and isinstance(spec, TrainedMethod) and spec.family == "deepmass"
    assert {"model", "device", "batch_size", "allow_mismatch", "b_mode", "symmetrise"} <= set(spec.options)
    assert "coverage" not in spec.options, "DeepMass has no calibrated spread"


def test_one_forward_pass_and_the_b_mode_choice(tiny):
    kappa = method.reconstruct(tiny["shear"], model=str(tiny["dir"] / "tiny"), b_mode="zero")
    with torch.no_grad():
        direct = tiny["model"](torch.from_numpy(raw_from_shear(tiny["shear"]))[None])[0, 0].numpy()
    np.testing.assert_allclose(kappa.kappa_e, direct, rtol=1e-5, atol=1e-7)
    assert kappa.meta["method"] == "deepmass" and not kappa.kappa_b.any()


def test_a_model_of_the_other_family_is_refused(tiny):
    with pytest.raises(InputError, match="not a deepmass"):
        method.reconstruct(tiny["shear"], model=str(tiny["dir"] / "u2"))
