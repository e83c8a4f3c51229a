"""The training loss: its torch power spectrum is the package's C_ell estimator, and its terms behave."""

import numpy as np
import pytest
import torch

from miu2net.errors import InputError
from miu2net.nn.losses import BinnedPowerSpectrum, MassMappingLoss, power_spectrum_torch
from miu2net.sims.fields import gaussian_field
from miu2net.stats.spectra import ARCMIN_TO_RAD, power_spectrum, spectrum_bins

torch.set_num_threads(1)
PIXEL = 0.82


def _cl(ell):
    return 2e-9 * (ell / 1000.0) ** -1.2


@pytest.mark.parametrize("shape", [(32, 32), (64, 64), (48, 40)])
def test_torch_raps_equals_numpy_estimator(shape):
    rng = np.random.default_rng(3)
    maps = np.stack([gaussian_field(shape, PIXEL, _cl, rng) for _ in range(3)])
    ref = power_spectrum(maps, PIXEL)
    ell, cl = power_spectrum_torch(torch.from_numpy(maps), PIXEL)
    np.testing.assert_allclose(ell, ref.ell, rtol=1e-12, err_msg="bin centres differ from stats.spectra")
    np.testing.assert_allclose(cl.mean(0).numpy(), ref.cl, rtol=1e-10,
                               err_msg="torch RAPS differs from stats.spectra.power_spectrum")
    for i in range(3):  # and map by map
        np.testing.assert_allclose(cl[i].numpy(), power_spectrum(maps[i], PIXEL).cl, rtol=1e-10)


def test_torch_raps_float32_and_explicit_edges():
    rng = np.random.default_rng(4)
    m = gaussian_field((32, 32), PIXEL, _cl, rng)
    edges = np.geomspace(1500, 13000, 6)
    ref = power_spectrum(m, PIXEL, ell_edges=edges)
    _, cl = power_spectrum_torch(torch.from_numpy(m).float(), PIXEL, ell_edges=edges)
    assert cl.dtype == torch.float32
    np.testing.assert_allclose(cl.numpy(), ref.cl, rtol=1e-5)
    bins = spectrum_bins((32, 32), PIXEL, ell_edges=edges)
    np.testing.assert_array_equal(bins.n_modes, ref.n_modes)


def test_white_noise_reads_one_in_pixel_units():
    """The loss divides C_ell by the pixel solid angle: unit-variance white noise has C_ell/Ω_pix = 1."""
    spec = BinnedPowerSpectrum((64, 64), PIXEL)
    x = torch.randn(200, 64, 64, dtype=torch.float64)
    ratio = (spec(x).mean(0) / spec.pixel_sr).numpy()
    np.testing.assert_allclose(ratio[spec.bins.n_modes > 40], 1.0, atol=0.05)
    assert spec.pixel_sr == pytest.approx((PIXEL * ARCMIN_TO_RAD) ** 2)


def test_loss_zero_on_truth_and_positive_otherwise():
    loss = MassMappingLoss(pixel_arcmin=PIXEL, freq_weight=1.0)
    t = torch.randn(2, 1, 32, 32)
    total, parts = loss([t] * 7, t)
    assert float(total) == 0.0 and float(parts["freq"]) == 0.0
    p = (0.5 * t).requires_grad_(True)
    total, parts = loss([p] * 7, t)
    total.backward()
    assert float(parts["spatial"]) == pytest.approx(float(((0.5 * t - t) ** 2).mean()), rel=1e-5)
    assert float(parts["freq"]) > 0 and p.grad is not None and torch.isfinite(p.grad).all()
    np.testing.assert_allclose(total.item(), 7 * (float(parts["spatial"]) + float(parts["freq"])), rtol=1e-5,
                               err_msg="deep supervision: fused + 6 sides, all weight 1")


def test_frequency_term_is_l1_of_spectra_below_cutoff():
    spec = BinnedPowerSpectrum((32, 32), PIXEL)
    ell_max = float(np.nanmedian(spec.bins.ell))
    loss = MassMappingLoss(pixel_arcmin=PIXEL, spatial_weight=0.0, freq_weight=1.0, ell_max=ell_max)
    a, b = torch.randn(3, 1, 32, 32, dtype=torch.float64), torch.randn(3, 1, 32, 32, dtype=torch.float64)
    keep = (spec.bins.ell <= ell_max) & (spec.bins.n_modes > 0)
    expected = (spec(a[:, 0]) - spec(b[:, 0]))[:, torch.from_numpy(keep)].abs().mean() / spec.pixel_sr
    total, _ = loss(a, b)
    assert float(total) == pytest.approx(float(expected), rel=1e-6)
    rel = MassMappingLoss(pixel_arcmin=PIXEL, spatial_weight=0.0, freq_weight=1.0, relative=True)
    assert float(rel(2 * b, b)[0]) == pytest.approx(3.0, rel=1e-6), "relative: |4C - C| / C = 3"
    with pytest.raises(InputError, match="keeps no"):
        MassMappingLoss(pixel_arcmin=PIXEL, ell_max=1.0)(a, b)


def test_huber_and_output_weights():
    t = torch.zeros(1, 1, 16, 16)
    p = torch.full((1, 1, 16, 16), 3.0)
    huber = MassMappingLoss(pixel_arcmin=PIXEL, spatial="huber", huber_delta=1.0, freq_weight=0.0)
    assert float(huber(p, t)[0]) == pytest.approx(2.5), "Huber(3; delta 1) = 3 - 1/2"
    weighted = MassMappingLoss(pixel_arcmin=PIXEL, freq_weight=0.0, output_weights=[1.0, 0.5])
    assert float(weighted([p, p, p], t)[0]) == pytest.approx(9.0 * 1.5), "outputs beyond the weights get 0"
    with pytest.raises(InputError):
        MassMappingLoss(pixel_arcmin=PIXEL, spatial="l3")
