"""What every network shares: the raw input layout, the input channels and their scaling, physical outputs."""

import numpy as np
import pytest
import torch

from miu2net.errors import InputError
from miu2net.nn.base import (
    LOG_SPREAD_CLAMP,
    InputEncoder,
    check_inputs,
    predict_samples,
    raw_from_arrays,
    raw_from_sample,
)
from miu2net.nn.unet import UNet

torch.set_num_threads(1)


def test_input_encoder_channels():
    size = 16
    sigma = np.full((size, size), 0.2)
    mask = np.ones((size, size))
    mask[:4] = 0
    g1 = np.full((size, size), 0.05)
    raw = torch.from_numpy(raw_from_arrays(g1, -g1, mask, np.where(mask > 0, sigma, np.inf)))[None]
    enc = InputEncoder(("g1", "g2", "mask", "noise", "ks"), shear_scale=0.1, noise_ref=0.1, noise_clip=4.0)
    x = enc(raw)
    assert x.shape == (1, 5, size, size)
    np.testing.assert_allclose(x[0, 0, 8].numpy(), 0.5, err_msg="g1 channel is g1 / shear_scale")
    assert float(x[0, 0, 0].abs().max()) == 0.0, "masked shear must read 0"
    np.testing.assert_allclose(x[0, 3, 8].numpy(), 0.5, err_msg="noise channel is noise_ref / sigma")
    assert float(x[0, 3, 0].abs().max()) == 0.0, "masked pixels carry no noise information"
    with pytest.raises(InputError):
        InputEncoder(("g1", "velocity"), shear_scale=1, noise_ref=1, noise_clip=1)


def test_raw_layout_zeroes_masked_pixels_and_unknown_noise():
    g1 = np.array([[0.1, np.nan], [0.2, 0.3]])
    g2 = -g1
    mask = np.array([[1, 0], [1, 1]])
    noise = np.array([[0.05, 0.05], [np.inf, -1.0]])
    raw = raw_from_arrays(g1, g2, mask, noise)
    assert raw.shape == (4, 2, 2) and raw.dtype == np.float32
    np.testing.assert_allclose(raw[0], [[0.1, 0.0], [0.2, 0.3]])
    np.testing.assert_allclose(raw[3], [[0.05, 0.0], [0.0, 0.0]], err_msg="masked, infinite or negative sigma: 0")
    assert np.all(raw_from_arrays(g1 * 0, g2 * 0, None, None)[2:] == [[[1, 1], [1, 1]], [[0, 0], [0, 0]]])
    five = raw_from_sample({"g1": g1, "g2": g2, "mask": mask, "noise": noise, "kappa_wiener": np.ones((2, 2))})
    assert five.shape == (5, 2, 2) and np.all(five[4] == 1)


def test_log_noise_encoding_is_the_log_of_the_depth_ratio_clipped():
    sigma = np.array([[0.1, 0.05, 0.1 * np.exp(-10)]])
    raw = torch.from_numpy(raw_from_arrays(np.zeros((1, 3)), np.zeros((1, 3)), np.ones((1, 3)), sigma))[None]
    enc = InputEncoder(("noise", "mask"), shear_scale=0.1, noise_ref=0.1, noise_clip=4.0, noise_encoding="log")
    x = enc(raw)[0, 0, 0].numpy()
    np.testing.assert_allclose(x, [0.0, np.log(2.0), 4.0], rtol=1e-6, err_msg="ln(noise_ref / sigma), clipped at 4")
    assert enc.n_raw == 4


def test_wrong_raw_shapes_and_channels_are_refused():
    enc = InputEncoder(("g1", "g2", "wiener"), shear_scale=0.1, noise_ref=0.1, noise_clip=4.0)
    assert enc.n_raw == 5
    with pytest.raises(InputError, match=r"raw input must be \[batch, 5, ny, nx\]"):
        enc(torch.zeros(1, 4, 8, 8))
    with pytest.raises(InputError, match="inputs must be distinct"):
        check_inputs(("g1", "g1"))
    assert check_inputs("ks") == ("ks",)


def test_outputs_in_physical_units():
    net = UNet(widths=(4,), bottleneck=4, out_channels=3, kappa_scale=0.02)
    out = torch.tensor([1.0, 0.0, -2.0]).reshape(1, 3, 1, 1)
    phys = net.to_physical(out)[0, :, 0, 0]
    np.testing.assert_allclose(phys.numpy(), [0.02, 0.02, -0.04], rtol=1e-6, err_msg="kappa, spread = s exp(0), kappa")
    huge = net.to_physical(torch.tensor([0.0, 1e6, 0.0]).reshape(1, 3, 1, 1))[0, 1, 0, 0]
    assert float(huge) == pytest.approx(0.02 * np.exp(LOG_SPREAD_CLAMP), rel=1e-5)
    with pytest.raises(InputError, match="out_channels must be >= 1"):
        UNet(out_channels=0)
    with pytest.raises(InputError, match="kappa_scale must be > 0"):
        UNet(kappa_scale=0.0)
    assert net.normalisation == {"shear_scale": 0.1, "noise_ref": 0.1, "noise_clip": 4.0, "kappa_scale": 0.02}


def test_predict_samples_batches_the_network_in_eval_mode():
    torch.manual_seed(0)
    net = UNet(widths=(4, 4), bottleneck=4, inputs=("g1", "g2", "mask", "noise"))
    rng = np.random.default_rng(1)
    samples = [{"g1": 0.05 * rng.standard_normal((16, 16)), "g2": 0.05 * rng.standard_normal((16, 16)),
                "mask": np.ones((16, 16)), "noise": np.full((16, 16), 0.1)} for _ in range(5)]
    out = predict_samples(net, samples, batch_size=2)
    assert out.shape == (5, 1, 16, 16) and out.dtype == np.float64 and not net.training
    with torch.no_grad():
        direct = net(torch.from_numpy(raw_from_sample(samples[3]))[None])[0].numpy()
    np.testing.assert_allclose(out[3], direct, rtol=1e-5, atol=1e-8)
