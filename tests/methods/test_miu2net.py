"""The MIU2Net method: a thin adapter over the trained-model inference, its options and its family."""

import numpy as np
import pytest
import torch

from miu2net.errors import InputError
from miu2net.maps import ShearMap
from miu2net.methods import get_method
from miu2net.methods import miu2net as method
from miu2net.methods.base import TrainedMethod
from miu2net.nn import create_model
from miu2net.nn.base import raw_from_shear
from miu2net.nn.checkpoint import save_model
from miu2net.sims.synthetic import synthetic_maps

torch.set_num_threads(1)
PIXEL, SIGMA = 0.82, 0.0488


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("miu2net")
    torch.manual_seed(0)
    model = create_model("u2net_small", mid=4, width=8).eval()
    save_model(model, d / "tiny", pixel_arcmin=PIXEL, map_size=(32, 32), noise_range=(SIGMA, SIGMA))
    m = synthetic_maps(1, 32, pixel_arcmin=PIXEL, seed=2)
    shear = ShearMap(g1=m["g1"][0], g2=m["g2"][0], mask=m["mask"][0], pixel_arcmin=PIXEL,
                     noise=np.where(m["mask"][0] > 0, SIGMA, np.inf))
    return {"path": d / "tiny", "model": model, "shear": shear}


def test_registered_as_a_trained_method_of_the_miu2net_family():
    spec = get_method("miu2net")
    assert spec is method.METHOD and isinstance(spec, TrainedMethod) and spec.family == "miu2net"
    assert {"model", "device", "batch_size", "allow_mismatch", "b_mode", "coverage", "symmetrise",
            "estimate"} <= set(spec.options)


def test_a_map_of_the_models_size_is_one_forward_pass(tiny):
    kappa = method.reconstruct(tiny["shear"], model=str(tiny["path"]))
    with torch.no_grad():
        direct = tiny["model"](torch.from_numpy(raw_from_shear(tiny["shear"]))[None])[0, 0].numpy()
    np.testing.assert_allclose(kappa.kappa_e, direct, rtol=1e-5, atol=1e-7)
    assert kappa.meta["method"] == "miu2net" and kappa.pixel_arcmin == PIXEL


def test_bad_options_are_refused(tiny):
    with pytest.raises(InputError):
        method.reconstruct(tiny["shear"], model=str(tiny["path"]), b_mode="sideways")
    with pytest.raises(InputError, match="no model .*absent"):
        method.reconstruct(tiny["shear"], model=str(tiny["path"]).replace("tiny", "absent"))
