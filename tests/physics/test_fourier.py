"""The Fourier grid of a flat map: ell of every FFT mode and the spectrum binning."""

import numpy as np
import pytest

from miu2net.physics.fourier import default_ell_edges, ell_components, ell_grid, spectrum_bins

ARCMIN = np.pi / (180 * 60)


def test_ell_of_each_mode_is_two_pi_k_over_the_side():
    shape, pixel = (48, 64), 0.5
    ly, lx = ell_components(shape, pixel)
    side_y, side_x = shape[0] * pixel * ARCMIN, shape[1] * pixel * ARCMIN
    np.testing.assert_allclose(lx[:5], 2 * np.pi * np.arange(5) / side_x, rtol=1e-12)
    np.testing.assert_allclose(ly[1], 2 * np.pi / side_y, rtol=1e-12)
    assert ly[-1] == pytest.approx(-2 * np.pi / side_y, rel=1e-12), "FFT order: negative frequencies last"
    assert lx[32] == pytest.approx(-np.pi / (pixel * ARCMIN), rel=1e-12), "the Nyquist mode is pi / pixel"


def test_ell_grid_is_the_modulus_with_x_along_the_last_axis():
    shape, pixel = (16, 32), 1.0
    grid = ell_grid(shape, pixel)
    assert grid.shape == shape and grid[0, 0] == 0.0
    fundamental_x = 2 * np.pi / (32 * pixel * ARCMIN)
    fundamental_y = 2 * np.pi / (16 * pixel * ARCMIN)
    assert grid[0, 1] == pytest.approx(fundamental_x, rel=1e-12)
    assert grid[1, 0] == pytest.approx(fundamental_y, rel=1e-12)
    assert grid[3, 4] == pytest.approx(np.hypot(3 * fundamental_y, 4 * fundamental_x), rel=1e-12)
    # the peak of a plane wave's FFT sits where ell_grid says its ell is
    x = np.arange(32)
    wave = np.cos(2 * np.pi * 5 * x / 32)[None, :] * np.ones((16, 1))
    power = np.abs(np.fft.fft2(wave)) ** 2
    assert grid.ravel()[np.argmax(power)] == pytest.approx(5 * fundamental_x, rel=1e-12)


def test_default_edges_run_from_the_fundamental_to_nyquist():
    shape, pixel = (64, 64), 0.41
    edges = default_ell_edges(shape, pixel, n_bins=12)
    fundamental = 2 * np.pi / (64 * pixel * ARCMIN)
    assert edges[0] == pytest.approx(fundamental, rel=1e-8) and edges[0] < fundamental
    assert edges[-1] == pytest.approx(np.pi / (pixel * ARCMIN), rel=1e-12)
    assert np.all(np.diff(edges) >= fundamental * (1 - 1e-9)), "no bin narrower than the fundamental mode"
    assert len(edges) - 1 <= 12
    assert len(default_ell_edges((8, 8), 1.0, n_bins=20)) - 1 < 20, "small maps merge empty bins"


def test_spectrum_bins_put_every_mode_inside_the_edges_in_one_bin():
    shape, pixel = (32, 32), 1.0
    bins = spectrum_bins(shape, pixel, n_bins=8)
    ell = ell_grid(shape, pixel).ravel()
    inside = (ell > 0) & (ell >= bins.ell_edges[0]) & (ell < bins.ell_edges[-1])
    np.testing.assert_array_equal(np.sort(bins.index), np.flatnonzero(inside))
    assert bins.n_modes.sum() == inside.sum() and np.all(bins.n_modes > 0)
    lo, hi = bins.ell_edges[bins.which], bins.ell_edges[bins.which + 1]
    assert np.all((ell[bins.index] >= lo) & (ell[bins.index] < hi))
    assert np.all((bins.ell >= bins.ell_edges[:-1]) & (bins.ell < bins.ell_edges[1:]))
    # the four fundamental modes (+-1, 0), (0, +-1) are the first bin's lowest
    assert np.sum(np.isclose(ell[bins.index][bins.which == 0], 2 * np.pi / (32 * ARCMIN))) == 4


def test_given_edges_are_used_as_they_are():
    edges = np.array([1000.0, 5000.0, 20000.0])
    bins = spectrum_bins((32, 32), 1.0, ell_edges=edges)
    np.testing.assert_array_equal(bins.ell_edges, edges)
    assert len(bins.n_modes) == 2 and np.all(bins.ell_edges[0] <= bins.ell)
