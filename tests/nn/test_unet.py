"""The DeepMass U-Net: one output of shape [B, C, H, W], the KS first guess by default, its checks."""

import numpy as np
import pytest
import torch

from miu2net.errors import InputError
from miu2net.nn.base import raw_from_arrays
from miu2net.nn.unet import UNet, deepmass

torch.set_num_threads(1)


def _raw(batch, size, seed=0):
    rng = np.random.default_rng(seed)
    return torch.from_numpy(np.stack([raw_from_arrays(*(0.05 * rng.standard_normal((2, size, size))),
                                                      np.ones((size, size)), np.full((size, size), 0.1))
                                      for _ in range(batch)]))


def test_one_output_of_shape_b_c_h_w():
    torch.manual_seed(0)
    model = deepmass(widths=(4, 8), bottleneck=8, out_channels=2).eval()
    with torch.no_grad():
        outs = model.forward_all(_raw(3, 32))
        final = model(_raw(3, 32))
    assert len(outs) == 1 and outs[0].shape == (3, 2, 32, 32)
    assert final.shape == (3, 2, 32, 32) and torch.isfinite(final).all()
    with torch.no_grad():
        assert model(_raw(1, 40)[..., :35, :29]).shape == (1, 2, 35, 29), "pooling rounds up, up-sampling matches"


def test_default_input_is_the_ks_map_and_the_layout():
    model = deepmass()
    assert model.inputs == ("ks",) and model.in_channels == 1
    assert len(model.down) == 4 and len(model.up) == 4
    n = sum(p.numel() for p in model.parameters())
    assert 2.5e5 < n < 3.5e5, "DeepMass-sized: about 0.28 M parameters"
    assert deepmass(inputs=("g1", "g2", "mask", "noise")).in_channels == 4


def test_eval_is_deterministic():
    torch.manual_seed(1)
    model = UNet(widths=(4, 8, 8), bottleneck=8).eval()
    raw = _raw(2, 32, seed=2)
    with torch.no_grad():
        torch.testing.assert_close(model(raw), model(raw), rtol=0, atol=0)


def test_the_network_sees_the_shear_through_ks():
    """A KS-input network reads the shear: other shear, other output."""
    torch.manual_seed(3)
    model = deepmass(widths=(4, 8), bottleneck=8).eval()
    with torch.no_grad():
        a, b = model(_raw(1, 32, seed=4)), model(_raw(1, 32, seed=5))
    assert not torch.allclose(a, b)


def test_bad_widths_are_refused():
    with pytest.raises(InputError, match="widths and bottleneck must be positive"):
        UNet(widths=(4, 0))
    with pytest.raises(InputError, match="widths and bottleneck must be positive"):
        UNet(widths=(4, 8), bottleneck=0)
    with pytest.raises(InputError, match="widths and bottleneck must be positive"):
        UNet(widths=())
