"""Random convergence fields: the power spectrum they are drawn with is measured back; lognormal statistics."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from miu2net.config import preset
from miu2net.sims.fields import (
    cl_on_grid,
    cut_center,
    draw_periodic,
    empty_beam_kappa,
    gaussian_field,
    lognormal_field,
    lognormal_gaussian_cl,
)
from miu2net.sims.simulate import field_model, cl_function, simulate_truth
from miu2net.stats.spectra import ARCMIN_TO_RAD, binned_model, power_spectrum

N_MAPS = 400  # csst-small truth: 128² maps of 0.82' cut from 256² boxes
N_BINS = 10
ELL_MIN = 900.0  # bins from here (>= 50 modes each) to the Nyquist mode, 12 100, are tested


def _config(field: str):
    return preset("csst-small").updated(sim={"field": field, "halos": {"enabled": False}})


def _edges(config) -> np.ndarray:
    n, pix = config.survey.map_size, config.survey.pixel_arcmin * ARCMIN_TO_RAD
    return np.geomspace(2 * np.pi / (n * pix), np.pi / pix, N_BINS + 1)


@pytest.fixture(scope="module", params=["gaussian", "lognormal"])
def truth_maps(request):
    config = _config(request.param)
    boxes = np.array([simulate_truth(config, seed)[0] for seed in range(N_MAPS)])
    return config, boxes


def test_cut_maps_recover_the_pyccl_spectrum_within_3_percent(truth_maps):
    """Mean measured C_ell of the simulated maps / pyccl binned model, per bin, for 900 <= ell <= 12100."""
    config, boxes = truth_maps
    shape = (config.survey.map_size,) * 2
    maps = np.array([cut_center(b, shape) for b in boxes])
    edges = _edges(config)
    measured = power_spectrum(maps, config.survey.pixel_arcmin, ell_edges=edges)
    model = binned_model(cl_function(config), shape, config.survey.pixel_arcmin, edges)
    use = measured.ell >= ELL_MIN
    assert use.sum() >= 5
    np.testing.assert_allclose(
        measured.cl[use] / model[use], 1.0, atol=0.03,
        err_msg=f"{config.sim.field} field: C_ell of the cut maps is off the pyccl input by more than 3 % (ell {measured.ell[use].round()})",
    )


def test_periodic_box_is_unbiased_at_every_scale(truth_maps):
    """On the periodic box the estimator is exactly unbiased: all bins with >= 40 modes within 2 %."""
    config, boxes = truth_maps
    edges = _edges(config)
    measured = power_spectrum(boxes, config.survey.pixel_arcmin, ell_edges=edges)
    model = binned_model(cl_function(config), boxes.shape[1:], config.survey.pixel_arcmin, edges)
    use = measured.n_modes >= 40
    np.testing.assert_allclose(measured.cl[use] / model[use], 1.0, atol=0.02,
                               err_msg=f"{config.sim.field} box spectrum is biased")


def test_lognormal_field_skewness_matches_lognormal_theory():
    r"""kappa = lambda (exp(G - s²/2) - 1) has skewness (e^{s²} + 2) sqrt(e^{s²} - 1) and kappa >= -lambda."""
    config = _config("lognormal")
    model = field_model(config.to_json())
    boxes = np.array([simulate_truth(config, seed)[0] for seed in range(40)])
    s2 = model.sigma_g2
    expected = (np.exp(s2) + 2) * np.sqrt(np.expm1(s2))
    measured = stats.skew(boxes.ravel())
    np.testing.assert_allclose(measured, expected, rtol=0.1, err_msg="lognormal skewness off its analytic value")
    assert boxes.min() >= -model.shift, "lognormal convergence went below -shift"
    assert model.clipped < 1e-3, f"{model.clipped:.2%} of the Gaussian core's variance was clipped"
    np.testing.assert_allclose(boxes.mean(), 0.0, atol=2e-3, err_msg="lognormal field is not zero-mean")


def test_gaussian_field_is_gaussian_and_unskewed():
    boxes = np.array([simulate_truth(_config("gaussian"), seed)[0] for seed in range(40)])
    assert abs(stats.skew(boxes.ravel())) < 0.02, "a Gaussian field came out skewed"


def test_draw_periodic_reproduces_gaussian_field():
    """The fast path (precomputed amplitude) draws exactly what gaussian_field draws from the same generator."""
    cl = cl_function(_config("gaussian"))
    shape, pix = (32, 32), 0.82
    a = gaussian_field(shape, pix, cl, np.random.default_rng(7), box_factor=2)
    amplitude = np.sqrt(cl_on_grid((64, 64), pix, cl)) / (pix * ARCMIN_TO_RAD)
    b = cut_center(draw_periodic(amplitude, np.random.default_rng(7)), shape)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15, err_msg="draw_periodic differs from gaussian_field")


def test_public_lognormal_field_spectrum_and_bound():
    """lognormal_field on a periodic map (box_factor 1) reproduces a power law C_ell within 3 % (40 maps, ell > 2000)."""
    cl = lambda ell: 1e-9 * (ell / 1000.0) ** -1.2  # noqa: E731
    shape, pix, shift = (64, 64), 1.0, 0.03
    maps = np.array([lognormal_field(shape, pix, cl, np.random.default_rng(s), shift=shift) for s in range(200)])
    edges = np.geomspace(2000, np.pi / (pix * ARCMIN_TO_RAD), 6)
    measured = power_spectrum(maps, pix, ell_edges=edges)
    model = binned_model(cl, shape, pix, edges)
    np.testing.assert_allclose(measured.cl / model, 1.0, atol=0.03, err_msg="lognormal_field spectrum is off")
    assert maps.min() >= -shift
    assert stats.skew(maps.ravel()) > 0.1


def test_lognormal_shift_too_small_raises():
    cl = cl_on_grid((32, 32), 1.0, lambda ell: 1e-6 * (ell / 1000.0) ** -2)
    with pytest.raises(ValueError, match="shift"):
        lognormal_gaussian_cl(cl, 1.0, 1e-4)


def test_empty_beam_convergence():
    """Negative, growing in magnitude with source redshift, about -0.066 for z_s = 1 (Planck 2018)."""
    k05, k10, k20 = (empty_beam_kappa(z_source=z) for z in (0.5, 1.0, 2.0))
    assert k05 < 0 and k20 < k10 < k05, "empty-beam convergence should be negative and deepen with z_s"
    np.testing.assert_allclose(k10, -0.0657, rtol=0.02, err_msg="empty-beam convergence at z_s = 1")
