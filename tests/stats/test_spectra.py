"""The C_ell estimator: unbiased on Gaussian fields of known power, and its simple identities."""

import warnings

import numpy as np
import pytest

from miu2net.sims.fields import gaussian_field
from miu2net.stats import binned_model, correlation_coefficient, cross_spectrum, power_spectrum
from miu2net.stats.spectra import ARCMIN_TO_RAD

N, PIXEL = 128, 1.0  # 128 x 128 maps of 1 arcmin: ell from 169 to the Nyquist mode 10800
D = PIXEL * ARCMIN_TO_RAD
# Bins from about 4x the fundamental mode to Nyquist, where each bin holds >= 236 modes per map:
# with 300 maps the statistical error per bin is <= 0.55 %, so a 2 % tolerance is a > 3.5-sigma test.
EDGES = np.geomspace(2 * np.pi / (N * D) * 6.5, np.pi / D, 9)
N_MAPS = 300


def cl_model(ell):
    return 2e-9 * (ell / 1000.0) ** -1.2 * np.exp(-((ell / 20000.0) ** 2))


def _check_unbiased(spectra, source):
    expected = binned_model(cl_model, (N, N), PIXEL, EDGES)
    ratio = np.mean(spectra, axis=0) / expected
    np.testing.assert_allclose(ratio, 1.0, atol=0.02, err_msg=f"C_ell estimator biased on {source} fields")


def test_unbiased_on_own_gaussian_fields():
    rng = np.random.default_rng(1)
    spectra = [power_spectrum(gaussian_field((N, N), PIXEL, cl_model, rng), PIXEL, ell_edges=EDGES).cl
               for _ in range(N_MAPS)]
    _check_unbiased(spectra, "miu2net")


def test_unbiased_on_galsim_gaussian_fields():
    galsim = pytest.importorskip("galsim")
    # k in inverse radians when units=radians: GalSim's P(k) is then our C_ell.
    ps = galsim.PowerSpectrum(e_power_function=cl_model, units=galsim.radians)
    deviate = galsim.BaseDeviate(2)
    spectra = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(N_MAPS):
            _, _, kappa = ps.buildGrid(grid_spacing=D, ngrid=N, rng=deviate, units=galsim.radians,
                                       get_convergence=True)
            spectra.append(power_spectrum(kappa, PIXEL, ell_edges=EDGES).cl)
    _check_unbiased(spectra, "GalSim")


def test_identities(rng):
    a = gaussian_field((64, 64), 0.5, cl_model, rng)
    b = gaussian_field((64, 64), 0.5, cl_model, rng)
    auto = power_spectrum(a, 0.5)
    np.testing.assert_allclose(power_spectrum(2 * a, 0.5).cl, 4 * auto.cl, rtol=1e-12, err_msg="C(2a) != 4 C(a)")
    np.testing.assert_allclose(cross_spectrum(a, a, 0.5).cl, auto.cl, rtol=1e-12)
    np.testing.assert_allclose(cross_spectrum(a, b, 0.5).cl, cross_spectrum(b, a, 0.5).cl, rtol=1e-12)
    ell, r = correlation_coefficient(a, 3 * a, 0.5)
    np.testing.assert_allclose(r[np.isfinite(r)], 1.0, rtol=1e-12, err_msg="r(ell) of a map with itself is not 1")
    assert np.all(np.diff(auto.ell_edges) > 0) and len(auto.ell) == len(auto.ell_edges) - 1
    assert np.all((auto.ell >= auto.ell_edges[:-1]) & (auto.ell < auto.ell_edges[1:]))


def test_parseval_normalisation(rng):
    # Summing C_ell over all modes (times d^2 l / (2 pi)^2) gives the map variance.
    kappa = rng.standard_normal((32, 32))
    kappa -= kappa.mean()
    spec = power_spectrum(kappa, PIXEL, ell_edges=np.array([1.0, 1e9]))
    d_ell_sq = (2 * np.pi / (32 * D)) ** 2
    variance = spec.cl[0] * spec.n_modes[0] * d_ell_sq / (2 * np.pi) ** 2
    np.testing.assert_allclose(variance, kappa.var(), rtol=1e-10, err_msg="C_ell normalisation breaks Parseval")
