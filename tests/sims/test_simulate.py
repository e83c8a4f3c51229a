"""One simulated sample: survey effects (reduced shear, masks, noise) and determinism (the configuration: tests/config)."""

from __future__ import annotations

import numpy as np
import pytest

from miu2net.config import Config, preset
from miu2net.physics.operators import ks93_forward
from miu2net.physics.shear import noise_from_counts
from miu2net.sims.simulate import MAP_FIELDS, cl_function, simulate_sample, simulate_sample_with_info, simulate_truth
from miu2net.stats.spectra import binned_model, power_spectrum


@pytest.fixture(scope="module")
def small() -> Config:
    return preset("csst-small").updated(survey={"map_size": 64})


@pytest.fixture(scope="module")
def samples(small):
    return [simulate_sample_with_info(small, seed) for seed in range(20)]


def test_sample_fields_and_conventions(small, samples):
    maps, _ = samples[0]
    assert tuple(maps) == MAP_FIELDS
    for name, value in maps.items():
        assert value.shape == (64, 64) and value.dtype == np.float32, name
        assert np.all(np.isfinite(value)), f"{name} has non-finite values"
    masked = maps["mask"] == 0
    assert set(np.unique(maps["mask"])) <= {0.0, 1.0}
    for name in ("g1", "g2", "noise"):
        assert np.all(maps[name][masked] == 0), f"masked pixels of {name} must hold 0"
    assert np.all(maps["noise"][~masked] > 0)


def test_reduced_shear_is_gamma_over_one_minus_kappa(samples):
    maps, _ = samples[1]
    k = maps["kappa"].astype(np.float64)
    weak = np.abs(maps["gamma1"] + 1j * maps["gamma2"]) / np.abs(1 - k) < 1
    for comp in ("1", "2"):
        np.testing.assert_allclose(maps[f"g{comp}_noiseless"][weak], (maps[f"gamma{comp}"] / (1 - k))[weak],
                                   rtol=1e-5, atol=1e-7, err_msg=f"g{comp} != gamma{comp} / (1 - kappa)")


def test_shear_of_an_unboxed_map_is_the_padded_ks93_forward(small):
    """box_factor 1: gamma = ks93_forward(kappa, pad=True) of the map itself (no periodic wrap-around)."""
    config = small.updated(sim={"box_factor": 1})
    maps = simulate_sample(config, 3)
    g1, g2 = ks93_forward(maps["kappa"].astype(np.float64), pad=True)
    np.testing.assert_allclose(maps["gamma1"], g1, atol=2e-7, err_msg="gamma1 vs padded KS93 forward")
    np.testing.assert_allclose(maps["gamma2"], g2, atol=2e-7, err_msg="gamma2 vs padded KS93 forward")


def test_masked_fraction_within_configured_range(small, samples):
    lo, hi = small.survey.mask.masked_fraction
    fractions = np.array([info["masked_fraction"] for _, info in samples])
    assert np.all((fractions >= lo) & (fractions <= hi)), f"masked fractions {fractions} outside [{lo}, {hi}]"
    assert fractions.std() > 0.01, "masked fraction does not vary between samples"
    narrow = small.updated(survey={"mask": {"masked_fraction": [0.2, 0.22]}})
    for seed in range(10):
        f = 1 - simulate_sample(narrow, seed)["mask"].mean()
        assert 0.2 <= f <= 0.22, f"masked fraction {f} outside [0.2, 0.22]"


def test_gaussian_noise_level(small, samples):
    """std(g - g_noiseless) on observed pixels = (sigma_e / sqrt 2) / sqrt(n_gal A_pix) = 0.0488 (1 %)."""
    s = small.survey
    expected = s.shape_noise_sigma / np.sqrt(2) / np.sqrt(s.n_gal_arcmin2 * s.pixel_arcmin**2)
    resid = np.concatenate([np.concatenate([(m["g1"] - m["g1_noiseless"])[m["mask"] > 0],
                                            (m["g2"] - m["g2_noiseless"])[m["mask"] > 0]]) for m, _ in samples])
    np.testing.assert_allclose(resid.std(), expected, rtol=0.01, err_msg="measured pixel noise vs sigma_e/sqrt(2 n A)")
    np.testing.assert_allclose(resid.mean(), 0.0, atol=3 * expected / np.sqrt(resid.size), err_msg="noise not zero-mean")
    noise = np.concatenate([m["noise"][m["mask"] > 0] for m, _ in samples])
    np.testing.assert_allclose(noise, expected, rtol=1e-6, err_msg="noise map != configured pixel noise")


def test_poisson_noise_counts_and_empty_pixels():
    """Poisson galaxy counts: sigma = sigma_e / sqrt(2 N), empty pixels masked, normalised residuals unit std."""
    config = preset("csst-small").updated(survey={"map_size": 64, "noise_model": "poisson", "n_gal_arcmin2": 3.0,
                                                  "mask": {"masked_fraction": [0.1, 0.5]}})
    mean_count = 3.0 * 0.82**2
    resid, empty_masked, n_obs = [], [], 0
    for seed in range(10):
        m = simulate_sample(config, seed)
        obs = m["mask"] > 0
        counts = (config.survey.shape_noise_sigma / m["noise"][obs]) ** 2 / 2  # invert sigma_e / sqrt(2 N)
        np.testing.assert_allclose(counts, np.round(counts), atol=1e-3, err_msg="noise map is not sigma_e/sqrt(2N)")
        np.testing.assert_allclose(m["noise"][obs], noise_from_counts(np.round(counts), shape_noise_sigma=0.4), rtol=1e-6)
        resid.append(((m["g1"] - m["g1_noiseless"])[obs] / m["noise"][obs]))
        n_obs += obs.sum()
        empty_masked.append(1 - obs.mean())
    resid = np.concatenate(resid)
    np.testing.assert_allclose(resid.std(), 1.0, rtol=0.02, err_msg="Poisson-count noise has the wrong level")
    assert np.mean(empty_masked) > np.exp(-mean_count) * 0.8, "empty pixels are not masked"


def test_deterministic_per_seed_and_streams_independent(small):
    a, b = simulate_sample(small, 11), simulate_sample(small, 11)
    for name in MAP_FIELDS:
        assert a[name].tobytes() == b[name].tobytes(), f"{name} differs between two runs with the same seed"
    c = simulate_sample(small, 12)
    assert not np.array_equal(a["kappa"], c["kappa"])
    # Switching the halos off leaves the Gaussian field, the mask and the noise realisations unchanged.
    d = simulate_sample(small.updated(sim={"halos": {"enabled": False}}), 11)
    np.testing.assert_array_equal(a["mask"], d["mask"], err_msg="mask depends on the halo switch")
    plain = small.updated(sim={"subtract_halo_power": False})  # the same field power with and without halos
    truth_off, _ = simulate_truth(plain.updated(sim={"halos": {"enabled": False}}), 11)
    truth_on, cat = simulate_truth(plain.updated(sim={"halos": {"compensate": False}}), 11)
    assert len(cat) > 0 and np.all(truth_on - truth_off >= -1e-12), "halos must only add convergence"


def test_field_plus_halos_has_the_pyccl_spectrum():
    """Gaussian field (C_ell - halo power) + halos: C_ell within 6 % of pyccl for 600 < ell < 12100 (40 maps,
    the rare massive clusters make the mean noisy);
    adding the halos on top of the full C_ell instead raises the power by > 25 % around ell ~ 1000."""
    # (40 maps: the truth alone, without the survey effects, to keep the test short)
    config = preset("csst-small")
    shape, pix = (128, 128), config.survey.pixel_arcmin
    edges = np.geomspace(600, 12100, 7)
    model = binned_model(cl_function(config), shape, pix, edges)
    ratios = {}
    for subtract in (True, False):
        c = config.updated(sim={"subtract_halo_power": subtract})
        maps = np.array([simulate_truth(c, s)[0] for s in range(40)])
        maps = maps[:, 64:192, 64:192]  # the map cut from the centre of the 256² box
        ratios[subtract] = power_spectrum(maps, pix, ell_edges=edges).cl / model
    np.testing.assert_allclose(ratios[True], 1.0, atol=0.06, err_msg="field + halos spectrum vs pyccl")
    assert ratios[False][1] > 1.25, f"halos on top of the full C_ell should add power: {ratios[False].round(3)}"


def test_presets_and_nz_sources_simulate():
    for name in ("euclid", "lsst"):
        config = preset(name).updated(survey={"map_size": 32})
        maps = simulate_sample(config, 0)
        assert np.all(np.isfinite(maps["kappa"])) and maps["kappa"].std() > 0, name


def test_lognormal_and_halo_free_variants(small):
    for sim in ({"field": "lognormal"}, {"field": "none"}, {"field": "gaussian", "halos": {"truncated": False}}):
        maps = simulate_sample(small.updated(sim=sim), 2)
        assert maps["kappa"].std() > 0, sim
