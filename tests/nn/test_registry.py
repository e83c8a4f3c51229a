"""The networks: U²-Net (full and small), the DeepMass U-Net, the registry and the input encoding."""

import pytest
import torch
from lensing_helpers import random_raw as _raw

from miu2net.errors import InputError
from miu2net.nn import create_model, list_models, model_info
from miu2net.nn.registry import count_parameters

torch.set_num_threads(1)


def test_registry_names():
    assert {"u2net_full", "u2net_small", "deepmass"} <= set(list_models())
    assert create_model("U2Net-Small", mid=4, width=8).arch == "u2net_small"
    with pytest.raises(InputError, match="unknown architecture"):
        create_model("u3net")
    with pytest.raises(InputError, match="takes"):
        create_model("deepmass", nonsense=1)


def test_full_parameter_count_without_forward():
    """Published U²-Net: 44.0 M parameters (176.3 MB); with 2 input channels the count of the MIU2Net code."""
    with torch.device("meta"):
        full = create_model("u2net_full")
        two = create_model("u2net_full", inputs=("g1", "g2"))
    assert count_parameters(two) == 43_994_893, "U²-Net widths differ from the published network"
    assert count_parameters(full) - count_parameters(two) == 2 * 9 * 64, "each extra input adds one 3x3x64 kernel"
    assert model_info("u2net_full")["parameters"] == count_parameters(full)


def test_small_parameter_count():
    n = model_info("u2net_small")["parameters"]
    assert 1.0e6 < n < 1.2e6, f"u2net_small has {n} parameters, expected ≈ 1.1 M (U²-Net†)"
    assert 2.5e5 < model_info("deepmass")["parameters"] < 3.5e5


def test_small_forward_shapes_at_64():
    model = create_model("u2net_small")
    outs = model.forward_all(_raw(2, 64))
    assert len(outs) == 7, "fused output plus six side outputs"
    assert all(o.shape == (2, 1, 64, 64) for o in outs)
    assert model(_raw(2, 64)).shape == (2, 1, 64, 64)


def test_odd_sizes_second_channel_and_ks_input():
    model = create_model("u2net_small", mid=4, width=8, inputs=("g1", "g2", "mask", "noise", "ks"), out_channels=2)
    assert model.in_channels == 5
    out = model(_raw(1, 50)[..., :50, :36])
    assert out.shape == (1, 2, 50, 36)
    deep = create_model("deepmass")
    assert len(deep.forward_all(_raw(2, 48))) == 1
    assert deep(_raw(2, 48)).shape == (2, 1, 48, 48)


