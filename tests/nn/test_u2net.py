"""The U²-Net: residual U-blocks keep size and width, six side outputs plus the fused map, any input size."""

import pytest
import torch
from lensing_helpers import random_raw as _raw

from miu2net.errors import InputError
from miu2net.nn.u2net import RSU, RSU4F, U2Net, u2net_small

torch.set_num_threads(1)


def _tiny(**kwargs):
    torch.manual_seed(0)
    return u2net_small(mid=4, width=8, **kwargs)


def test_rsu_blocks_keep_size_and_width():
    x = torch.randn(1, 3, 37, 45)
    assert RSU(7, 3, 4, 6)(x).shape == (1, 6, 37, 45)
    assert RSU(4, 3, 4, 6, pool="max")(x).shape == (1, 6, 37, 45)
    assert RSU4F(3, 4, 6)(x).shape == (1, 6, 37, 45)


def test_fused_output_starts_as_mean_of_sides():
    model = _tiny().eval()
    with torch.no_grad():
        outs = model.forward_all(_raw(1, 32))
    torch.testing.assert_close(outs[0], torch.stack(outs[1:]).mean(0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("out_channels", [1, 2])
def test_six_side_outputs_and_the_fused_map_of_shape_b_c_h_w(out_channels):
    model = _tiny(out_channels=out_channels).eval()
    with torch.no_grad():
        outs = model.forward_all(_raw(2, 32))
        final = model(_raw(2, 32))
    assert len(outs) == 7, "fused output plus six side outputs"
    assert all(o.shape == (2, out_channels, 32, 32) for o in outs)
    assert final.shape == (2, out_channels, 32, 32) and torch.isfinite(final).all()


def test_parameters_grow_with_the_width_and_the_stages_are_u2net_s():
    small, tiny = u2net_small(), _tiny()
    n_small = sum(p.numel() for p in small.parameters())
    n_tiny = sum(p.numel() for p in tiny.parameters())
    assert 0 < n_tiny < n_small
    assert len(tiny.encoder_stages) == 6 and len(tiny.decoder_stages) == 5 and len(tiny.side_convs) == 6
    assert [type(s).__name__ for s in tiny.encoder_stages] == ["RSU", "RSU", "RSU", "RSU", "RSU4F", "RSU4F"]


def test_eval_mode_is_deterministic_and_batch_independent():
    model = _tiny().eval()
    raw = _raw(3, 32, seed=1)
    with torch.no_grad():
        a, b = model(raw), model(raw)
        single = model(raw[1:2])
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(a[1:2], single, rtol=1e-5, atol=1e-6)


def test_sizes_not_divisible_by_32():
    with torch.no_grad():
        out = _tiny().eval()(_raw(1, 48)[..., :37, :45])
    assert out.shape == (1, 1, 37, 45)


def test_bad_widths_and_pooling_are_refused():
    with pytest.raises(InputError, match="6 encoder and 5 decoder widths"):
        U2Net(encoder_mid=(4,) * 5, encoder_out=(8,) * 6, decoder_mid=(4,) * 5, decoder_out=(8,) * 5)
    with pytest.raises(InputError, match="pool must be 'avg' or 'max'"):
        u2net_small(mid=4, width=8, pool="median")
    assert u2net_small(mid=4, width=8, pool="max").pool == "max"
