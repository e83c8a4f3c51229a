"""Wiener filter: the exact posterior mean for Gaussian fields, with masks, noise maps and padding."""

from __future__ import annotations

import numpy as np
import pytest
from lensing_helpers import cut_field

from miu2net.errors import InputError
from miu2net.maps import ShearMap
from miu2net.methods import get_method, ks, wiener
from miu2net.physics.cosmology import smail_nz
from miu2net.physics.masks import survey_mask
from miu2net.physics.operators import ks93_forward, ks93_inverse
from miu2net.physics.shear import pixel_noise_sigma
from miu2net.sims.fields import gaussian_field
from miu2net.stats.metrics import rmse
from miu2net.stats.spectra import ARCMIN_TO_RAD, ell_grid

PIXEL = 0.41  # arcmin, csst
SIGMA_PIX = pixel_noise_sigma(shape_noise_sigma=0.4, n_gal_arcmin2=50.0, pixel_arcmin=PIXEL)


@pytest.fixture(scope="module")
def cl():
    """The default prior of the method (pyccl, Planck 2018, z_s = 1) as a function of ell."""
    cl_of_ell, _ = wiener.signal_power(cl_kappa=None, z_source=None, nz=None)
    return cl_of_ell


def noisy_masked(g1, g2, rng, *, mask_fraction=0.15, sigma=SIGMA_PIX):
    n = g1.shape
    mask = survey_mask(n, rng, target_fraction=mask_fraction, pixel_arcmin=PIXEL) if mask_fraction else np.ones(n)
    n1, n2 = sigma * rng.standard_normal(n), sigma * rng.standard_normal(n)
    return ShearMap((g1 + n1) * mask, (g2 + n2) * mask, PIXEL, mask=mask, noise=np.full(n, sigma)), mask


def test_equals_fourier_wiener_filter_on_a_periodic_complete_field(cl):
    """Without mask and padding, with uniform noise, the posterior mean is the Fourier ratio S/(S+N) times KS."""
    n = 128
    rng = np.random.default_rng(1)
    kappa = gaussian_field((n, n), PIXEL, cl, rng)
    g1, g2 = ks93_forward(kappa)
    shear, _ = noisy_masked(g1, g2, rng, mask_fraction=0)
    out = wiener.reconstruct(shear, pad=False, tol=1e-10)
    # Analytic: per DFT mode, signal power C_ell / pixel_rad^2 and noise power sigma^2 (per component).
    ell = ell_grid((n, n), PIXEL)
    power = np.zeros_like(ell)
    power[ell > 0] = cl(ell[ell > 0]) / (PIXEL * ARCMIN_TO_RAD) ** 2
    e, b = ks93_inverse(shear.g1, shear.g2)
    filt = power / (power + SIGMA_PIX**2)
    expect_e = np.fft.ifft2(filt * np.fft.fft2(e)).real
    expect_b = np.fft.ifft2(filt * np.fft.fft2(b)).real
    scale = np.abs(expect_e).max()
    np.testing.assert_allclose(out.kappa_e, expect_e, atol=1e-6 * scale, err_msg="E mode is not S/(S+N) KS")
    np.testing.assert_allclose(out.kappa_b, expect_b, atol=1e-6 * scale, err_msg="B mode is not S/(S+N) KS")
    assert out.meta["converged"] and out.meta["method"] == "wiener"


@pytest.fixture(scope="module")
def masked_runs(cl):
    """Two csst-like realisations (256^2, 0.41', 15 % masked, n_gal 50, sigma_e 0.4) and their Wiener maps."""
    runs = []
    for seed in (11, 12):
        kappa, g1, g2, rng = cut_field(cl, seed)
        shear, mask = noisy_masked(g1, g2, rng)
        runs.append((kappa, shear, mask, wiener.reconstruct(shear)))
    return runs


def test_beats_smoothed_ks_at_every_smoothing_scale(masked_runs):
    """On Gaussian fields drawn from the prior C_ell, with masks and noise, the Wiener map has lower RMSE
    than KS at every Gaussian smoothing scale (the posterior mean minimises the expected squared error)."""
    mse_wiener = np.mean([rmse(out.kappa_e, kappa) ** 2 for kappa, _, _, out in masked_runs])
    for smooth in (0.5, 1.0, 2.0, 4.0):
        mse_ks = np.mean(
            [
                rmse(ks.reconstruct(shear, smooth_arcmin=smooth).kappa_e, kappa) ** 2
                for kappa, shear, _, _ in masked_runs
            ]
        )
        ratio = np.sqrt(mse_wiener / mse_ks)
        print(f"RMSE Wiener {np.sqrt(mse_wiener):.5f} vs KS({smooth}') {np.sqrt(mse_ks):.5f}: ratio {ratio:.3f}")
        np.testing.assert_array_less(
            ratio, 0.99, err_msg=f"Wiener RMSE is not below smoothed KS ({smooth} arcmin) by 1 %"
        )


def test_is_a_calibrated_posterior_mean(masked_runs):
    """For the posterior mean E[kappa | d] = kappa_WF, the regression slope of the truth on the estimate is 1
    (a too-smooth or too-noisy filter gives a slope above or below 1)."""
    truth = np.concatenate([kappa.ravel() for kappa, _, _, _ in masked_runs])
    est = np.concatenate([out.kappa_e.ravel() for _, _, _, out in masked_runs])
    slope = np.sum(truth * est) / np.sum(est * est)
    print(f"regression slope of truth on Wiener map: {slope:.3f}")
    np.testing.assert_allclose(slope, 1.0, atol=0.06, err_msg="Wiener map is not a calibrated posterior mean")
    for kappa, shear, _, _ in masked_runs[:1]:
        smooth = ks.reconstruct(shear, smooth_arcmin=1.0).kappa_e
        ks_slope = np.sum(kappa * smooth) / np.sum(smooth * smooth)
        assert abs(ks_slope - 1) > abs(slope - 1), "smoothed KS should be less calibrated than Wiener"


def test_noise_from_survey_options_equals_noise_map(cl):
    """Without a noise map, shape_noise_sigma and n_gal_arcmin2 give the same uniform pixel noise."""
    kappa, g1, g2, rng = cut_field(cl, 3, n=64, box=2)
    with_map, mask = noisy_masked(g1, g2, rng)
    without = ShearMap(with_map.g1, with_map.g2, PIXEL, mask=mask)
    a = wiener.reconstruct(with_map)
    b = wiener.reconstruct(without, shape_noise_sigma=0.4, n_gal_arcmin2=50.0)
    np.testing.assert_allclose(b.kappa_e, a.kappa_e, atol=1e-6 * np.abs(a.kappa_e).max(), err_msg="noise options")
    c = wiener.reconstruct(without, n_gal_arcmin2=5.0)  # 10x noisier: stronger filtering
    assert c.kappa_e.std() < 0.8 * b.kappa_e.std(), "more noise must give a smoother Wiener map"


def test_nz_prior_and_user_cl(cl):
    """The prior can come from an n(z) through pyccl or from a user function; a weaker prior smooths more."""
    _, g1, g2, rng = cut_field(cl, 4, n=64, box=2)
    shear, _ = noisy_masked(g1, g2, rng)
    z = np.linspace(0.01, 3.0, 200)
    from_nz = wiener.reconstruct(shear, nz=(z, smail_nz(z)))
    assert np.all(np.isfinite(from_nz.kappa_e)) and "n(z)" in from_nz.meta["options"]["signal"]
    weak = wiener.reconstruct(shear, cl_kappa=lambda ell: 0.01 * cl(ell))
    default = wiener.reconstruct(shear)
    assert weak.kappa_e.std() < 0.5 * default.kappa_e.std(), "a 100x weaker prior must shrink the map"


def test_iteration_cap_warns_and_is_recorded(cl):
    _, g1, g2, rng = cut_field(cl, 6, n=64, box=2)
    shear, _ = noisy_masked(g1, g2, rng)
    with pytest.warns(RuntimeWarning, match="max_iter"):
        out = wiener.reconstruct(shear, max_iter=2, tol=1e-12)
    assert out.meta["n_iter"] == 2 and out.meta["converged"] is False


def test_registered_and_chi2_added(cl):
    _, g1, g2, rng = cut_field(cl, 7, n=64, box=2)
    shear, _ = noisy_masked(g1, g2, rng)
    from miu2net.methods import reconstruct

    assert get_method("wiener").reconstruct is wiener.reconstruct
    out = reconstruct(shear, "wiener", tol=1e-4)
    assert 0.5 < out.meta["chi2dof"] < 1.5, "Wiener map should fit the shear to about the noise"


@pytest.mark.parametrize(
    "options, words",
    [
        (dict(tol=0), "tol"),
        (dict(max_iter=0), "max_iter"),
        (dict(b_mode_prior=-1), "b_mode_prior"),
        (dict(z_source=-1.0), "z_source"),
        (dict(z_source=1.0, cl_kappa=lambda ell: ell), "only one"),
        (dict(cl_kappa=3.0), "cl_kappa"),
        (dict(cl_kappa=lambda ell: -np.ones_like(ell)), ">= 0"),
        (dict(nz=([0.5], [1.0, 2.0])), "nz"),
        (dict(n_gal_arcmin2=0), "n_gal_arcmin2"),
        (dict(shape_noise_sigma=float("nan")), "shape_noise_sigma"),
    ],
)
def test_bad_options_raise_input_error(options, words):
    shear = ShearMap(np.zeros((32, 32)), np.zeros((32, 32)), PIXEL)
    with pytest.raises(InputError, match=words):
        wiener.reconstruct(shear, **options)


def test_iteration_count_stays_flat_as_the_map_grows(cl):
    """The Fourier preconditioner (1 + w S)^-1 keeps the CG iteration count flat from 128² to 512² (0.82′
    pixels, 15 % mask, csst noise), where whitening by S^1/2 alone needs more iterations on larger maps
    (their lowest ell has a larger signal-to-noise ratio)."""
    counts = {}
    for n in (128, 512):
        _, g1, g2, rng = cut_field(cl, 21, n=n, box=2, pixel_arcmin=0.82)
        sigma = pixel_noise_sigma(shape_noise_sigma=0.4, n_gal_arcmin2=50.0, pixel_arcmin=0.82)
        mask = survey_mask((n, n), rng, target_fraction=0.15, pixel_arcmin=0.82)
        noise = sigma * rng.standard_normal((2, n, n))
        shear = ShearMap((g1 + noise[0]) * mask, (g2 + noise[1]) * mask, 0.82, mask=mask, noise=np.full((n, n), sigma))
        out = wiener.reconstruct(shear)
        assert out.meta["converged"]
        counts[n] = out.meta["n_iter"]
    print(f"CG iterations: {counts}")
    assert counts[512] <= counts[128] + 4, f"iteration count grows with the map: {counts}"
    assert counts[512] <= 25, f"too many iterations for a preconditioned solve: {counts}"


def test_converges_to_the_tolerance_it_is_given(masked_runs):
    """A looser tolerance stops earlier and the default (1e-4) is within 1e-3 (rms, relative) of a tight solve."""
    _, shear, _, default = masked_runs[0]
    tight = wiener.reconstruct(shear, tol=1e-8)
    loose = wiener.reconstruct(shear, tol=1e-2)
    assert loose.meta["n_iter"] < default.meta["n_iter"] < tight.meta["n_iter"]
    scale = tight.kappa_e.std()
    err_default = np.sqrt(np.mean((default.kappa_e - tight.kappa_e) ** 2)) / scale
    err_loose = np.sqrt(np.mean((loose.kappa_e - tight.kappa_e) ** 2)) / scale
    print(f"relative rms distance to the tol=1e-8 map: default {err_default:.2e}, tol=1e-2 {err_loose:.2e}")
    assert err_default < 1e-3 < err_loose, "the tolerance does not control the distance to the converged map"
    err_b = np.sqrt(np.mean((default.kappa_b - tight.kappa_b) ** 2)) / tight.kappa_b.std()
    assert err_b < 1e-3, f"the B-mode null test is not converged at the default tolerance: {err_b:.2e}"


def test_torch_backend_equals_numpy(cl):
    """The torch backend (CPU here, CUDA where present) solves the same system: same map within the tolerance."""
    pytest.importorskip("torch")
    _, g1, g2, rng = cut_field(cl, 8, n=96, box=2)
    shear, _ = noisy_masked(g1, g2, rng)
    ref = wiener.reconstruct(shear, tol=1e-8)
    for b_mode_prior in (0.0, 0.5):
        a = wiener.reconstruct(shear, tol=1e-6, b_mode_prior=b_mode_prior)
        b = wiener.reconstruct(shear, tol=1e-6, b_mode_prior=b_mode_prior, backend="torch")
        for name in ("kappa_e", "kappa_b"):
            x, y = getattr(a, name), getattr(b, name)
            np.testing.assert_allclose(y, x, atol=1e-4 * x.std(), err_msg=f"torch {name} differs (b_mode_prior={b_mode_prior})")
        assert b.meta["options"]["backend"].startswith("torch")
    assert np.abs(ref.kappa_e).max() > 0


def test_equals_the_complex_fft_solve_on_a_periodic_masked_field(cl):
    """The real-FFT operator reproduces the complex-FFT KS93 convention exactly (Nyquist lines included):
    on a periodic grid with mask and noise, the map equals a direct dense solve of the posterior mean."""
    n = 24
    rng = np.random.default_rng(9)
    kappa = gaussian_field((n, n), PIXEL, cl, rng)
    g1, g2 = ks93_forward(kappa)
    shear, mask = noisy_masked(g1, g2, rng, mask_fraction=0.2)
    out = wiener.reconstruct(shear, pad=False, tol=1e-12, max_iter=2000)
    # Dense: kappa_E = S A^T (A S A^T + N)^-1 d over the observed real components (A: real-kappa -> (g1, g2)).
    ell = ell_grid((n, n), PIXEL)
    power = np.zeros_like(ell)
    power[ell > 0] = cl(ell[ell > 0]) / (PIXEL * ARCMIN_TO_RAD) ** 2
    eye = np.eye(n * n).reshape(n * n, n, n)
    cov = np.real(np.fft.ifft2(power * np.fft.fft2(eye))).reshape(n * n, n * n)  # S in pixel space
    a1, a2 = ks93_forward(eye)
    a = np.concatenate([a1.reshape(n * n, -1).T, a2.reshape(n * n, -1).T])  # (2 n², n²)
    obs = np.concatenate([mask.ravel(), mask.ravel()]) > 0
    a = a[obs]
    d = np.concatenate([shear.g1.ravel(), shear.g2.ravel()])[obs]
    c = a @ cov @ a.T + SIGMA_PIX**2 * np.eye(a.shape[0])
    expect = (cov @ a.T @ np.linalg.solve(c, d)).reshape(n, n)
    np.testing.assert_allclose(out.kappa_e, expect, atol=1e-7 * np.abs(expect).max(),
                               err_msg="real-FFT Wiener filter is not the dense posterior mean")
