"""NFW halos: analytic profiles against pyccl and direct integrals, population, painting, inserted profiles."""

from __future__ import annotations

import numpy as np
import pyccl as ccl
import pytest
from scipy import integrate, stats

from miu2net.config import CONCENTRATIONS, MASS_FUNCTIONS, preset
from miu2net.physics.cosmology import planck18, sigma_crit
from miu2net.sims.halos import (
    HaloCatalogue,
    HaloPopulation,
    mean_kappa_inside,
    nfw_halos,
    nfw_kappa,
    nfw_mass_factor,
    paint_halos,
    projected_kappa,
    pyccl_concentration,
    pyccl_mass_function,
    tnfw_kappa,
    tnfw_total_mass_factor,
)
from miu2net.sims.simulate import survey_halo_population, halo_cl_grid, simulate_truth
from miu2net.stats.spectra import ARCMIN_TO_RAD, ell_grid, power_spectrum


def _rho(r, tau=np.inf):
    """NFW (BMO-truncated for finite tau) density in units of rho_s, r in units of r_s."""
    base = 1.0 / (r * (1.0 + r) ** 2)
    return base if not np.isfinite(tau) else base * tau**2 / (tau**2 + r**2)


# ---- analytic profiles ----------------------------------------------------------------------------


def test_untruncated_nfw_matches_pyccl_projected_profile():
    """Wright & Brainerd Sigma(R) vs pyccl HaloProfileNFW (comoving: Sigma_phys(R) = Sigma_ccl(R/a)/a²), 1e-6."""
    cosmo = planck18()
    mdef = ccl.halos.MassDef200c
    cm = ccl.halos.ConcentrationDuffy08(mass_def=mdef)
    prof = ccl.halos.HaloProfileNFW(mass_def=mdef, concentration=cm, truncated=False, projected_analytic=True)
    for mass, z in ((2e14, 0.2), (1e15, 0.5)):
        a = 1.0 / (1.0 + z)
        c = cm(cosmo, mass, a)
        r_s = mdef.get_radius(cosmo, mass, a) / c
        rho_s = mass / (4 * np.pi * r_s**3 * nfw_mass_factor(c))
        radii = np.array([0.02, 0.1, 0.3, 0.7, 1.0, 1.5, 3.0])  # physical Mpc
        ours = nfw_kappa(radii / r_s, rho_s * r_s)
        theirs = prof.projected(cosmo, radii / a, mass, a) / a**2
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, err_msg=f"NFW Sigma differs from pyccl for M={mass:g}, z={z}")


@pytest.mark.parametrize("tau", [np.inf, 4.0, 12.0])
def test_profiles_match_line_of_sight_integral_of_the_density(tau):
    """kappa(x) = 2 int rho dz (kappa_s = rho_s r_s = 1) for WB00 and BMO09, to 1e-7."""
    for x in (0.01, 0.3, 0.999, 1.0, 1.001, 2.5, 9.0):
        numeric = 2 * integrate.quad(lambda z: _rho(np.hypot(x, z), tau), 0, np.inf, limit=300, epsabs=0)[0]
        analytic = projected_kappa(np.array([x]), 1.0, tau)[0]
        np.testing.assert_allclose(analytic, numeric, rtol=1e-7, err_msg=f"projected profile at x={x}, tau={tau}")


@pytest.mark.parametrize("tau", [np.inf, 4.0, 12.0])
def test_mean_kappa_inside_matches_enclosed_mass(tau):
    """Mean kappa inside R (analytic enclosed projected mass) = (2 / R²) int_0^R kappa r dr, to 1e-7."""
    for x in (0.05, 0.5, 1.0, 3.0, 20.0):
        numeric = 2 * integrate.quad(lambda r: r * projected_kappa(np.array([r]), 1.0, tau)[0], 0, x,
                                     limit=300, points=[1.0] if x > 1 else None)[0] / x**2
        np.testing.assert_allclose(mean_kappa_inside(np.array([x]), 1.0, tau)[0], numeric, rtol=1e-7,
                                   err_msg=f"mean kappa inside x={x}, tau={tau}")


def test_truncated_profile_limits():
    """BMO: total projected mass = total 3-D mass; tau -> infinity gives the NFW profile."""
    tau = 6.0
    total_3d = integrate.quad(lambda r: r**2 * _rho(r, tau), 0, np.inf, limit=300)[0]  # / (4 pi rho_s r_s^3)
    np.testing.assert_allclose(tnfw_total_mass_factor(tau), total_3d, rtol=1e-8, err_msg="BMO total mass")
    far = mean_kappa_inside(np.array([1e5]), 1.0, tau)[0] * np.pi * 1e10 / (4 * np.pi)
    np.testing.assert_allclose(far, total_3d, rtol=1e-4, err_msg="BMO projected mass does not converge to the total")
    x = np.array([0.1, 1.0, 3.0])
    np.testing.assert_allclose(tnfw_kappa(x, 1.0, 1e5), nfw_kappa(x, 1.0), rtol=1e-4, err_msg="BMO tau->inf limit")


def test_halo_geometry_units():
    """r_200c from pyccl is physical: M = (4/3) pi 200 rho_crit(z) r³; rho_s gives M inside r_200c."""
    cosmo = planck18()
    mass, z = 3e14, 0.3
    a = 1 / (1 + z)
    r200 = ccl.halos.MassDef200c.get_radius(cosmo, mass, a)
    rho_c = ccl.rho_x(cosmo, a, "critical")  # physical Msun / Mpc^3
    np.testing.assert_allclose(4 / 3 * np.pi * 200 * rho_c * r200**3, mass, rtol=1e-6, err_msg="r_200c not physical")
    h = nfw_halos([mass], [z], concentration=[4.0], r_delta=[r200], d_a=[1000.0],
                  sigma_crit_inv=[1.0 / sigma_crit(z, 1.0)], truncation_factor=None)
    inside = 4 * np.pi * h.rho_s[0] * h.r_s[0] ** 3 * integrate.quad(lambda r: r**2 * _rho(r), 0, 4.0)[0]
    np.testing.assert_allclose(inside, mass, rtol=1e-8, err_msg="M(<r_Delta) != M_Delta")
    np.testing.assert_allclose(h.theta_s[0], h.r_s[0] / 1000.0, err_msg="angular scale radius")


def test_config_tables_match_pyccl():
    """The mass-definition support listed in miu2net.config is what pyccl accepts."""
    for table, build in ((MASS_FUNCTIONS, pyccl_mass_function), (CONCENTRATIONS, pyccl_concentration)):
        for name, supported in table.items():
            for mdef in ("200c", "200m", "vir"):
                try:
                    build(name, mdef)
                    ok = True
                except ValueError:
                    ok = False
                assert ok == (mdef in supported), f"{name} with {mdef}: pyccl says {ok}, config says {mdef in supported}"


# ---- population ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def population() -> HaloPopulation:
    return survey_halo_population(preset("csst"))


def test_population_number_and_masses(population):
    """Expected count = independent 2-D integral of dn/dlog10M chi² dchi/dz (1 %); draws are Poisson with it."""
    cosmo = planck18()
    hmf = pyccl_mass_function("tinker08", "200c")

    def density(log_m, z):
        a = 1 / (1 + z)
        chi = ccl.comoving_radial_distance(cosmo, a)
        dchi = ccl.physical_constants.CLIGHT_HMPC / cosmo["h"] / ccl.h_over_h0(cosmo, a)
        return hmf(cosmo, 10**log_m, a) * chi**2 * dchi

    z = np.linspace(0.02, 1.0, 41)
    logm = np.linspace(14, np.log10(3e15), 201)
    grid = np.array([[density(lm, zz) for lm in logm] for zz in z])
    # An independent quadrature (Simpson in both directions, other nodes) of the same integral.
    per_sr = integrate.simpson(integrate.simpson(grid, x=logm, axis=1), x=z)
    np.testing.assert_allclose(population.number_per_sr, per_sr, rtol=0.01, err_msg="halo count per steradian")

    shape, pix = (512, 512), 0.41
    rng = np.random.default_rng(1)
    counts = [int((~population.draw(rng, shape, pix).companion).sum()) for _ in range(200)]
    expected = population.expected_number(shape[0] * shape[1] * (pix * ARCMIN_TO_RAD) ** 2)
    np.testing.assert_allclose(np.mean(counts), expected, rtol=3 * np.sqrt(expected / 200) / expected,
                               err_msg="mean number of drawn halos")
    cat = population.draw(np.random.default_rng(2), (2048, 2048), pix)
    primaries = cat.halos.mass[~cat.companion]
    assert primaries.min() >= 1e14 and primaries.max() <= 3e15
    assert 0.05 < cat.companion.sum() / (~cat.companion).sum() < 0.15, "pair fraction 0.1 not respected"


def test_concentration_table_matches_pyccl(population):
    cosmo = planck18()
    cm = pyccl_concentration("duffy08", "200c")
    for mass, z in ((1.3e14, 0.11), (7e14, 0.63), (2.5e15, 0.9), (3e13, 0.4)):
        np.testing.assert_allclose(population.concentration(np.array([mass]), np.array([z]))[0],
                                   cm(cosmo, mass, 1 / (1 + z)), rtol=0.005, err_msg=f"c(M={mass:g}, z={z})")


def test_merging_pairs_are_at_the_configured_separation(population):
    cat = population.draw(np.random.default_rng(3), (1024, 1024), 0.41)
    n = int((~cat.companion).sum())
    paired_idx = np.nonzero(cat.companion)[0]
    assert paired_idx.size > 0
    # Companions were appended in the order of their primaries.
    primaries = np.nonzero(~cat.companion)[0]
    pix = 0.41 * ARCMIN_TO_RAD
    d_a = population.angular_diameter_distance(cat.halos.z[paired_idx])
    for k, j in enumerate(paired_idx):
        prim = [p for p in primaries if cat.halos.z[p] == cat.halos.z[j]]
        assert prim, "a companion has no primary at its redshift"
        sep = np.hypot(cat.x[j] - cat.x[prim[0]], cat.y[j] - cat.y[prim[0]]) * pix * d_a[k]
        assert 0.3 - 1e-9 <= sep <= 1.5 + 1e-9, f"pair separation {sep:.3f} Mpc outside [0.3, 1.5]"
        assert 0.2 - 1e-9 <= cat.halos.mass[j] / cat.halos.mass[prim[0]] <= 1.0 + 1e-9
    assert n > 0


# ---- painting -----------------------------------------------------------------------------------


def _single(theta_s_pix, paint_pix, tau, x0, y0, pix_arcmin=0.41, kappa_s=0.2):
    pix = pix_arcmin * ARCMIN_TO_RAD
    one = lambda v: np.array([float(v)])  # noqa: E731
    halos = nfw_halos(one(1e15), one(0.3), concentration=one(4.0), r_delta=one(1.0), d_a=one(1.0),
                      sigma_crit_inv=one(1.0))
    halos = type(halos)(**{**halos.__dict__, "kappa_s": one(kappa_s), "theta_s": one(theta_s_pix * pix),
                           "tau": one(tau), "theta_paint": one(paint_pix * pix)})
    return HaloCatalogue(halos=halos, x=one(x0), y=one(y0), companion=np.array([False]))


@pytest.mark.parametrize("theta_s_pix, tau", [(0.6, 8.0), (2.0, 8.0), (5.0, np.inf)])
def test_painted_mass_equals_enclosed_mass(theta_s_pix, tau):
    """Sum of painted pixels = analytic mass inside the painting radius (0.5 %): the cusp is integrated."""
    paint = 24.0
    cat = _single(theta_s_pix, paint, tau, x0=40.37, y0=39.81)
    kappa = paint_halos((80, 80), 0.41, cat, subpixel=4)
    x_paint = paint / theta_s_pix
    expected = mean_kappa_inside(np.array([x_paint]), 0.2, tau)[0] * np.pi * paint**2
    np.testing.assert_allclose(kappa.sum(), expected, rtol=0.005, err_msg="painted total vs enclosed projected mass")


def test_painted_pixels_are_pixel_averages():
    """Each painted pixel = mean of the profile over the pixel (brute force 64² sub-samples), 0.5 % inside."""
    n, s, x0, y0 = 31, 64, 15.3, 15.71
    cat = _single(1.5, 14.0, 8.0, x0=x0, y0=y0)
    painted = paint_halos((n, n), 0.41, cat, subpixel=4)
    o = (np.arange(s) + 0.5) / s
    yy = (np.arange(n)[:, None] + o).ravel() - y0
    xx = (np.arange(n)[:, None] + o).ravel() - x0
    r = np.hypot(yy[:, None], xx[None, :])
    brute = tnfw_kappa(r / 1.5, 0.2, 8.0).reshape(n, s, n, s).mean(axis=(1, 3))
    rc = np.hypot(np.arange(n)[:, None] + 0.5 - y0, np.arange(n)[None, :] + 0.5 - x0)
    inside = rc < 13
    np.testing.assert_allclose(painted[inside], brute[inside], rtol=0.005, err_msg="pixel-integrated profile")


def test_periodic_painting_wraps_and_conserves_mass():
    cat = _single(2.0, 20.0, 8.0, x0=1.2, y0=62.5)
    wrapped = paint_halos((64, 64), 0.41, cat, periodic=True)
    centred = paint_halos((64, 64), 0.41, _single(2.0, 20.0, 8.0, x0=33.2, y0=30.5), periodic=True)
    np.testing.assert_allclose(wrapped.sum(), centred.sum(), rtol=1e-10, err_msg="periodic painting lost mass")
    np.testing.assert_allclose(np.roll(centred, (32, -32), axis=(0, 1)), wrapped, atol=1e-12,
                               err_msg="periodic painting is not a translation")


def test_inserted_halo_profiles_match_nfw():
    """Annular mean kappa around isolated halos of a simulated halo-only box / analytic NFW: within 5 %."""
    config = preset("csst").updated(sim={"field": "none", "box_factor": 2, "halos": {
        "mass_min": 3e14, "compensate": False, "pair_fraction": 0.0}})
    pix = config.survey.pixel_arcmin * ARCMIN_TO_RAD
    edges = np.array([1.0, 2.0, 3.0, 4.5, 6.5, 9.0, 12.0])  # pixels
    ratios = []
    for seed in range(3):
        kappa, cat = simulate_truth(config, seed)
        h = cat.halos
        reach = h.theta_paint / pix
        ny, nx = kappa.shape
        yy, xx = np.mgrid[0:ny, 0:nx] + 0.5
        for i in range(len(cat)):
            d = np.hypot(cat.x - cat.x[i], cat.y - cat.y[i])
            others = np.arange(len(cat)) != i
            if np.any(d[others] < reach[others] + edges[-1]) or not (20 < cat.x[i] < nx - 20 and 20 < cat.y[i] < ny - 20):
                continue  # not isolated, or too close to the box edge
            r = np.hypot(yy - cat.y[i], xx - cat.x[i])
            ts, tau = h.theta_s[i] / pix, h.tau[i]
            for lo, hi in zip(edges[:-1], edges[1:]):
                ring = (r >= lo) & (r < hi)
                m_hi = mean_kappa_inside(np.array([hi / ts]), h.kappa_s[i], tau)[0] * hi**2
                m_lo = mean_kappa_inside(np.array([lo / ts]), h.kappa_s[i], tau)[0] * lo**2
                ratios.append((lo, kappa[ring].mean() / ((m_hi - m_lo) / (hi**2 - lo**2))))
    ratios = np.array(ratios)
    assert len(ratios) >= 6 * 5, "too few isolated halos to test"
    for lo in edges[:-1]:
        mean = ratios[ratios[:, 0] == lo, 1].mean()
        np.testing.assert_allclose(mean, 1.0, atol=0.05, err_msg=f"inserted halo profile in the annulus from {lo} px")


def test_halo_only_power_matches_the_one_halo_term():
    """Measured power of halo-only boxes / analytic 1-halo C_ell (Hankel transform of the painted profile,
    population tables, pixel window): within 6 % per bin for 200 < ell < 8000 (40 boxes of 3.5 deg).
    Masses up to 6e14 only: the power of the rare most massive clusters (~M²) makes a 40-box mean noisy."""
    config = preset("csst-small").updated(sim={"field": "none", "halos": {"mass_max": 6e14}})
    boxes = np.array([simulate_truth(config, s)[0] for s in range(40)])
    pix = config.survey.pixel_arcmin
    edges = np.geomspace(200, 8000, 9)
    measured = power_spectrum(boxes, pix, ell_edges=edges)
    predicted = halo_cl_grid(config, boxes.shape[1:])
    ell = ell_grid(boxes.shape[1:], pix).ravel()
    which = np.digitize(ell, edges) - 1
    model = np.array([predicted.ravel()[(which == b) & (ell > 0)].mean() for b in range(len(edges) - 1)])
    np.testing.assert_allclose(measured.cl / model, 1.0, atol=0.06, err_msg="halo power vs the 1-halo prediction")


def test_halos_make_the_kappa_pdf_positively_skewed():
    config = preset("csst-small")
    on = np.array([simulate_truth(config, s)[0] for s in range(10)])
    off = np.array([simulate_truth(config.updated(sim={"halos": {"enabled": False}}), s)[0] for s in range(10)])
    skew_on, skew_off = stats.skew(on.ravel()), stats.skew(off.ravel())
    assert skew_on > 0.3 and skew_on > skew_off + 0.3, f"skewness with halos {skew_on:.2f}, without {skew_off:.2f}"
