"""Born convergence from lens planes: kernel weights, lensing efficiency, plane sampling and transforms."""

from __future__ import annotations

import numpy as np
import pytest

from miu2net.sims.lightcone import (
    H0_OVER_C,
    block_mean,
    born_kappa,
    lensing_efficiency,
    sample_plane,
    slab_weights,
    transformed_plane,
)
from miu2net.sims.nbody import slab_edges


def test_born_weights_sum_to_the_analytic_kernel_integral():
    """For a(chi) = 1 and one source plane: sum w_j = 1.5 Om (H0/c)^2 chi_s^2 / 6."""
    chi_s = 2000.0
    edges = slab_edges(64.0, chi_s)
    w = slab_weights(edges, 0.3, lambda chi: np.ones_like(chi), np.array([chi_s]), np.array([1.0]), n_sub=400)
    expected = 1.5 * 0.3 / 2997.92458**2 * chi_s**2 / 6
    assert np.isclose(w.sum(), expected, rtol=1e-4)
    assert w[-1] >= 0 and np.all(w >= 0)


def test_lensing_efficiency_of_a_distribution():
    q = lensing_efficiency(np.array([0.0, 500.0, 1500.0]), np.array([1000.0, 2000.0]), np.array([1.0, 3.0]))
    np.testing.assert_allclose(q, [1.0, (0.5 + 3 * 0.75) / 4, (0 + 3 * 0.25) / 4])


def test_sample_plane_maps_a_plane_wave_to_its_angle():
    n_plane, box, chi = 256, 64.0, 1000.0
    x = (np.arange(n_plane) + 0.5) * box / n_plane
    k = 2 * np.pi * 8 / box
    plane = 1 + 0.5 * np.cos(k * x)[None, :] * np.ones((n_plane, 1))
    pixel_arcmin, n_pix = 0.41, 64
    out = sample_plane(plane, box, chi, n_pix, pixel_arcmin, (0.0, 0.0), subsamples=4)
    theta = (np.arange(n_pix) + 0.5 - n_pix / 2) * pixel_arcmin / 60 * np.pi / 180
    expect = 1 + 0.5 * np.cos(k * chi * theta)
    # pixel integration and the bilinear kernel attenuate the wave by a few per cent at most
    assert np.allclose(out, expect[None, :], atol=0.03)
    assert np.allclose(block_mean(plane, 4).mean(), plane.mean())


def test_born_kappa_of_a_uniform_contrast():
    planes = np.full((3, 3, 32, 32), 1.2, dtype=np.float16)
    w = np.array([0.01, 0.02, 0.0])
    kappa, _ = born_kappa(planes, w, np.array([32.0, 96.0, 160.0]), 64.0, 16, 1.0, np.random.default_rng(0))
    assert np.allclose(kappa, 0.2 * 0.03, rtol=1e-3)


def test_single_source_plane_efficiency_is_one_minus_chi_over_chi_s():
    chi = np.array([0.0, 250.0, 500.0, 999.0, 1000.0, 1500.0])
    q = lensing_efficiency(chi, np.array([1000.0]), np.array([2.0]))  # the weight's scale does not matter
    np.testing.assert_allclose(q, [1.0, 0.75, 0.5, 0.001, 0.0, 0.0], atol=1e-12)


def test_slabs_behind_the_sources_get_no_weight():
    edges = slab_edges(100.0, 400.0)
    w = slab_weights(edges, 0.3, lambda chi: np.ones_like(chi), np.array([200.0]), np.array([1.0]))
    assert w[0] > 0 and w[1] > 0 and w[2] == 0.0 and w[3] == 0.0  # sources at 200: slabs from 200 on see none
    # one slab, a(chi) = 1, q = 1 - chi/chi_s: the integral of chi (1 - chi/chi_s) from 0 to chi_s is chi_s^2 / 6
    w_all = slab_weights(np.array([0.0, 250.0]), 0.3, lambda chi: np.ones_like(chi), np.array([250.0]),
                         np.array([1.0]), n_sub=2000)
    assert w_all[0] == pytest.approx(1.5 * 0.3 * H0_OVER_C**2 * 250.0**2 / 6, rel=1e-5)


def test_transformed_plane_rotates_and_flips():
    plane = np.arange(12, dtype=np.float16).reshape(3, 4)
    np.testing.assert_array_equal(transformed_plane(plane, 0, False), plane)
    np.testing.assert_array_equal(transformed_plane(plane, 1, False), np.rot90(plane))
    np.testing.assert_array_equal(transformed_plane(plane, 0, True), plane[:, ::-1])
    assert transformed_plane(plane, 4, False).dtype == np.float32
    np.testing.assert_array_equal(transformed_plane(plane, 4, False), plane)  # four quarter turns: identity


def test_block_mean_averages_blocks():
    plane = np.arange(16.0).reshape(4, 4)
    np.testing.assert_array_equal(block_mean(plane, 2), [[2.5, 4.5], [10.5, 12.5]])
    assert block_mean(plane, 1) is plane


def test_born_kappa_skips_zero_weights_and_is_reproducible():
    rng = np.random.default_rng(0)
    planes = (1.0 + 0.2 * rng.standard_normal((2, 3, 32, 32))).astype(np.float16)
    args = (planes, np.array([0.01, 0.0]), np.array([50.0, 150.0]), 64.0, 16, 1.0)
    a, info = born_kappa(*args, np.random.default_rng(5))
    b, _ = born_kappa(*args, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (16, 16) and np.isfinite(a).all() and a.std() > 0
    assert set(info) == {"axes", "rotations", "flips", "shifts"} and len(info["axes"]) == 2
    # only the first slab contributes: a map of its contrast times its weight
    only_first, _ = born_kappa(planes, np.array([0.01, 0.0]), np.array([50.0, 150.0]), 64.0, 16, 1.0,
                               np.random.default_rng(5), slab_snapshot=np.array([0, 0]))
    np.testing.assert_allclose(only_first, a, atol=1e-12)
