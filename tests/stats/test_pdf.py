"""One-point statistics: the binned PDF of a Gaussian field against the normal density, and the skewness."""

import numpy as np
import pytest

from miu2net.stats.pdf import kappa_pdf, skewness


def test_gaussian_field_histogram_is_the_normal_density_and_skewness(rng):
    values = rng.standard_normal((200, 200))
    edges = np.linspace(-5, 5, 41)
    pdf = kappa_pdf(values, edges)
    np.testing.assert_allclose(np.sum(pdf * np.diff(edges)), 1.0, atol=1e-4)
    centres = 0.5 * (edges[1:] + edges[:-1])
    np.testing.assert_allclose(pdf, np.exp(-centres**2 / 2) / np.sqrt(2 * np.pi), atol=0.02)
    assert abs(skewness(values)) < 0.05 and skewness(np.exp(values)) > 1


def test_pdf_of_a_scaled_gaussian_field_within_sampling_error(rng):
    """sigma = 0.02 (a kappa-like width): each bin's density within 4 Poisson sigmas of the normal one."""
    sigma, n = 0.02, 256 * 256
    values = sigma * rng.standard_normal((256, 256))
    edges = np.linspace(-0.06, 0.06, 25)
    pdf = kappa_pdf(values, edges)
    width = np.diff(edges)
    centres = 0.5 * (edges[1:] + edges[:-1])
    expected = np.exp(-(centres**2) / (2 * sigma**2)) / (np.sqrt(2 * np.pi) * sigma)
    error = np.sqrt(expected * width * n) / (n * width)
    assert np.all(np.abs(pdf - expected) < 4 * error + 0.02 * expected)
    # the range holds +-3 sigma: 99.73 % of the pixels
    assert np.sum(pdf * width) == pytest.approx(0.9973, abs=0.002)


def test_pdf_uses_only_the_masked_in_pixels():
    values = np.zeros((10, 10))
    values[:, 5:] = 1.0
    mask = np.zeros((10, 10))
    mask[:, 5:] = 1
    edges = np.array([-0.5, 0.5, 1.5])
    np.testing.assert_allclose(kappa_pdf(values, edges, mask=mask), [0.0, 1.0])
    np.testing.assert_allclose(kappa_pdf(values, edges), [0.5, 0.5])
    stack = np.stack([values, values])  # a mask [y, x] broadcasts over a stack of maps
    np.testing.assert_allclose(kappa_pdf(stack, edges, mask=mask), [0.0, 1.0])


def test_skewness_of_known_distributions(rng):
    assert skewness(rng.exponential(size=400_000)) == pytest.approx(2.0, abs=0.05), "exponential: skewness 2"
    assert skewness(np.array([0.0, 0.0, 3.0])) == pytest.approx(1 / np.sqrt(2))  # m3 = 2, sigma^2 = 2
    assert np.isnan(skewness(np.full(10, 0.3))), "a constant map has no skewness"
