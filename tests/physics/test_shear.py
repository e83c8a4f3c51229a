"""Reduced shear, ellipticity composition and shape noise against their analytic properties."""

import numpy as np

from miu2net.physics.shear import (
    add_pixel_noise,
    compose_ellipticity,
    draw_intrinsic_ellipticities,
    noise_from_counts,
    pixel_noise_sigma,
    reduced_shear,
)


def test_reduced_shear_weak_and_strong():
    g1, g2 = reduced_shear(np.array([0.1, 0.3]), np.array([0.05, 0.0]), np.array([0.2, 0.9]))
    np.testing.assert_allclose(g1[0], 0.1 / 0.8)
    np.testing.assert_allclose(g2[0], 0.05 / 0.8)
    # |gamma / (1 - kappa)| = 3 > 1: the observable is 1 / g*
    np.testing.assert_allclose(g1[1], 1.0 / 3.0, err_msg="strong regime must return 1/g*")
    assert np.all(np.hypot(g1, g2) <= 1)


def test_ellipticity_average_estimates_reduced_shear(rng):
    # <e> = g for an isotropic intrinsic distribution (Seitz & Schneider 1997), weak and strong regime.
    e_s = draw_intrinsic_ellipticities(rng, 400_000, shape_noise_sigma=0.4)
    for g in (0.05 + 0.03j, -0.2 + 0.1j):
        mean = compose_ellipticity(e_s, g).mean()
        assert abs(mean - g) < 4 * 0.4 / np.sqrt(2 * 400_000) * 1.5, f"<e> = {mean} for g = {g}"
    g = 1.5 + 0.5j  # |g| > 1: <e> = 1/g*
    mean = compose_ellipticity(e_s, g).mean()
    assert abs(mean - 1 / np.conj(g)) < 0.01


def test_intrinsic_ellipticity_dispersion(rng):
    e_s = draw_intrinsic_ellipticities(rng, 200_000, shape_noise_sigma=0.4)
    assert np.all(np.abs(e_s) < 1)
    np.testing.assert_allclose(np.sqrt(np.mean(np.abs(e_s) ** 2)), 0.4, rtol=0.01)
    np.testing.assert_allclose(e_s.real.std(), 0.4 / np.sqrt(2), rtol=0.01, err_msg="per-component rms")


def test_pixel_noise_matches_catalogue_noise(rng):
    # A pixel averaging N galaxies: per-component std (sigma_e / sqrt 2) / sqrt N.
    n_gal, pixel = 50.0, 0.41
    sigma = pixel_noise_sigma(shape_noise_sigma=0.4, n_gal_arcmin2=n_gal, pixel_arcmin=pixel)
    np.testing.assert_allclose(sigma, 0.4 / np.sqrt(2) / np.sqrt(n_gal * pixel**2))
    n_per_pixel = 8
    e = draw_intrinsic_ellipticities(rng, 20_000 * n_per_pixel, shape_noise_sigma=0.4).reshape(-1, n_per_pixel)
    np.testing.assert_allclose(e.mean(axis=1).real.std(), noise_from_counts(n_per_pixel, shape_noise_sigma=0.4),
                               rtol=0.02, err_msg="pixel noise from counts disagrees with averaged galaxies")
    assert np.isinf(noise_from_counts(np.array([0]), shape_noise_sigma=0.4)[0])


def test_add_pixel_noise_statistics(rng):
    zero = np.zeros((200, 200))
    n1, n2 = add_pixel_noise(rng, zero, zero, 0.1)
    np.testing.assert_allclose([n1.std(), n2.std()], 0.1, rtol=0.02)
    assert abs(np.corrcoef(n1.ravel(), n2.ravel())[0, 1]) < 0.02
