"""The Wiener solver of the physics core: the whole-field Wiener map a network takes as input."""

import numpy as np
import pytest

from miu2net.errors import InputError
from miu2net.maps import ShearMap
from miu2net.methods.wiener import reconstruct
from miu2net.physics.operators import ks93_forward
from miu2net.physics.wiener import LensingGrid, wiener_kappa

PIXEL = 0.41


def _field(n, seed, *, noise=0.05, masked=0.15):
    rng = np.random.default_rng(seed)
    white = rng.normal(size=(n, n))
    ell = np.hypot(*np.meshgrid(np.fft.fftfreq(n), np.fft.fftfreq(n)))
    kappa = np.fft.ifft2(np.fft.fft2(white) / np.maximum(ell, 1.0 / n) ** 1.2).real
    kappa *= 0.02 / kappa.std()
    g1, g2 = ks93_forward(kappa)
    mask = (rng.uniform(size=(n, n)) > masked).astype(float)
    sigma = np.full((n, n), noise)
    return kappa, g1 + rng.normal(0, noise, (n, n)), g2 + rng.normal(0, noise, (n, n)), mask, sigma


def test_wiener_kappa_is_the_wiener_methods_e_mode():
    _, g1, g2, mask, sigma = _field(96, 1)
    ours = wiener_kappa(g1, g2, mask, sigma, pixel_arcmin=PIXEL)
    shear = ShearMap(g1=g1, g2=g2, mask=mask, noise=np.where(mask > 0, sigma, np.inf), pixel_arcmin=PIXEL)
    method = reconstruct(shear).kappa_e
    np.testing.assert_allclose(ours, method, atol=2e-4 * method.std(),
                               err_msg="the network's Wiener input must be the wiener method's KAPPA_E")


def test_wiener_kappa_ignores_masked_and_noiseless_pixels():
    _, g1, g2, mask, sigma = _field(64, 2)
    base = wiener_kappa(g1, g2, mask, sigma, pixel_arcmin=PIXEL)
    junk1 = np.where(mask > 0, g1, 1e3)
    bad_sigma = np.where(mask > 0, sigma, np.nan)
    np.testing.assert_allclose(wiener_kappa(junk1, g2, mask, bad_sigma, pixel_arcmin=PIXEL), base, atol=1e-7,
                               err_msg="masked pixels carry no information, whatever they hold")
    zero_sigma = np.where(mask > 0, sigma, 0.0)
    np.testing.assert_allclose(wiener_kappa(g1, g2, np.ones_like(mask), zero_sigma, pixel_arcmin=PIXEL), base,
                               atol=1e-7, err_msg="a pixel without a finite positive noise counts as masked")


def test_wiener_kappa_recovers_the_large_scales_and_tracks_the_truth():
    kappa, g1, g2, mask, sigma = _field(128, 3, noise=0.02)
    wf = wiener_kappa(g1, g2, mask, sigma, pixel_arcmin=PIXEL)
    r = np.corrcoef(wf.ravel(), kappa.ravel())[0, 1]
    assert r > 0.8, f"the Wiener map should follow a high-S/N field (r = {r:.3f})"
    assert wf.std() < kappa.std(), "a posterior mean is smoother than the truth"


def test_lensing_grid_pads_by_an_angle():
    grid = LensingGrid.build((256, 256), PIXEL, pad=True, margin=64)
    assert grid.padded_shape[0] >= 256 + 2 * 64 and grid.crop(grid.inside).all()
    ones = np.ones((8, 8))
    with pytest.raises(InputError, match="tol"):
        wiener_kappa(ones, ones, ones, ones, pixel_arcmin=PIXEL, tol=-1.0)
    with pytest.raises(InputError, match="one shape"):
        wiener_kappa(ones, np.ones((8, 9)), ones, ones, pixel_arcmin=PIXEL)
