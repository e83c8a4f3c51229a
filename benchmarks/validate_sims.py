"""Validate the simulated training data: print the key statistics as short tables, write results/validate_sims.json.

    python benchmarks/validate_sims.py [--maps N] [--quick]

Checks (csst preset, 256² maps of 0.41'; a few minutes on one core):
  1. Gaussian / lognormal truth: mean measured C_ell of the cut maps over the pyccl input, per ell bin.
  2. Field + halos (the default): C_ell over pyccl, with the halos' 1-halo power subtracted from the field
     (default) and without (halos added on top); halo-only power over the analytic 1-halo term.
  3. One-point PDF: skewness of kappa with and without halos; lognormal skewness vs its analytic value.
  4. Inserted halos: mean annular kappa around isolated halos over the analytic (BMO) NFW annulus mean.
  5. Analytic NFW: mean kappa inside R vs the integral of the profile; painted mass vs enclosed mass.
  6. Noise: measured per-pixel std of g - g_noiseless vs (sigma_e/sqrt2)/sqrt(n_gal A_pix); Poisson counts.
  7. Masks: masked fraction over the samples vs the configured range.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from scipy import integrate, stats

from miu2net import __version__
from miu2net.config import preset
from miu2net.sims.fields import cut_center
from miu2net.sims.halos import HaloCatalogue, mean_kappa_inside, nfw_halos, paint_halos, projected_kappa
from miu2net.sims.simulate import field_model, cl_function, halo_cl_grid, simulate_sample_with_info, simulate_truth
from miu2net.stats.spectra import ARCMIN_TO_RAD, binned_model, ell_grid, power_spectrum

RESULTS = Path(__file__).parent / "results"


def edges_for(config, n_bins=10):
    n, d = config.survey.map_size, config.survey.pixel_arcmin * ARCMIN_TO_RAD
    return np.geomspace(2 * np.pi / (n * d), np.pi / d, n_bins + 1)


def spectrum_ratio(config, seeds, *, cut=True):
    """Mean C_ell of the truth maps (cut from the box, or the box) / pyccl, per bin."""
    shape = (config.survey.map_size,) * 2
    boxes = [simulate_truth(config, s)[0] for s in seeds]
    maps = np.array([cut_center(b, shape) for b in boxes]) if cut else np.array(boxes)
    edges = edges_for(config)
    measured = power_spectrum(maps, config.survey.pixel_arcmin, ell_edges=edges)
    model = binned_model(cl_function(config), maps.shape[1:], config.survey.pixel_arcmin, edges)
    return measured.ell, measured.cl / model, measured.n_modes, maps


def halo_power_ratio(config, seeds):
    cfg = config.updated(sim={"field": "none"})
    boxes = np.array([simulate_truth(cfg, s)[0] for s in seeds])
    pix = cfg.survey.pixel_arcmin
    edges = edges_for(cfg)
    measured = power_spectrum(boxes, pix, ell_edges=edges)
    pred = halo_cl_grid(cfg, boxes.shape[1:]).ravel()
    ell = ell_grid(boxes.shape[1:], pix).ravel()
    which = np.digitize(ell, edges) - 1
    model = np.array([pred[(which == b) & (ell > 0)].mean() for b in range(len(edges) - 1)])
    return measured.ell, measured.cl / model


def inserted_profiles(config, seeds):
    cfg = config.updated(sim={"field": "none", "halos": {"mass_min": 3e14, "compensate": False, "pair_fraction": 0.0}})
    pix = cfg.survey.pixel_arcmin * ARCMIN_TO_RAD
    edges = np.array([1.0, 2.0, 3.0, 4.5, 6.5, 9.0, 12.0, 16.0])
    ratios = {lo: [] for lo in edges[:-1]}
    n_halos = 0
    for seed in seeds:
        kappa, cat = simulate_truth(cfg, seed)
        h = cat.halos
        reach = h.theta_paint / pix
        ny, nx = kappa.shape
        yy, xx = np.mgrid[0:ny, 0:nx] + 0.5
        for i in range(len(cat)):
            others = np.arange(len(cat)) != i
            d = np.hypot(cat.x - cat.x[i], cat.y - cat.y[i])
            if np.any(d[others] < reach[others] + edges[-1]) or not (20 < cat.x[i] < nx - 20 and 20 < cat.y[i] < ny - 20):
                continue
            n_halos += 1
            r = np.hypot(yy - cat.y[i], xx - cat.x[i])
            ts = h.theta_s[i] / pix
            for lo, hi in zip(edges[:-1], edges[1:]):
                ring = (r >= lo) & (r < hi)
                enclosed = [mean_kappa_inside(np.array([e / ts]), h.kappa_s[i], h.tau[i])[0] * e**2 for e in (lo, hi)]
                ratios[lo].append(kappa[ring].mean() / ((enclosed[1] - enclosed[0]) / (hi**2 - lo**2)))
    return edges, {lo: (float(np.mean(v)), float(np.std(v) / np.sqrt(len(v)))) for lo, v in ratios.items()}, n_halos


def analytic_nfw_checks():
    worst_mean, worst_paint = 0.0, 0.0
    for tau in (np.inf, 4.0, 12.0):
        for x in (0.05, 0.5, 1.0, 3.0, 20.0):
            numeric = 2 * integrate.quad(lambda r: r * projected_kappa(np.array([r]), 1.0, tau)[0], 0, x, limit=300,
                                         points=[1.0] if x > 1 else None)[0] / x**2
            worst_mean = max(worst_mean, abs(mean_kappa_inside(np.array([x]), 1.0, tau)[0] / numeric - 1))
    pix = 0.41 * ARCMIN_TO_RAD
    one = lambda v: np.array([float(v)])  # noqa: E731
    for ts, tau in ((0.6, 8.0), (2.0, 8.0), (5.0, np.inf)):
        h = nfw_halos(one(1e15), one(0.3), concentration=one(4.0), r_delta=one(1.0), d_a=one(1.0), sigma_crit_inv=one(1.0))
        h = type(h)(**{**h.__dict__, "kappa_s": one(0.2), "theta_s": one(ts * pix), "tau": one(tau), "theta_paint": one(24 * pix)})
        kappa = paint_halos((80, 80), 0.41, HaloCatalogue(h, one(40.37), one(39.81), np.array([False])))
        expected = mean_kappa_inside(np.array([24 / ts]), 0.2, tau)[0] * np.pi * 24**2
        worst_paint = max(worst_paint, abs(kappa.sum() / expected - 1))
    return worst_mean, worst_paint


def noise_and_masks(config, seeds):
    s = config.survey
    expected = s.shape_noise_sigma / np.sqrt(2) / np.sqrt(s.n_gal_arcmin2 * s.pixel_arcmin**2)
    resid, fractions = [], []
    for seed in seeds:
        maps, info = simulate_sample_with_info(config, seed)
        obs = maps["mask"] > 0
        resid.append(np.concatenate([(maps["g1"] - maps["g1_noiseless"])[obs], (maps["g2"] - maps["g2_noiseless"])[obs]]))
        fractions.append(info["masked_fraction"])
    resid = np.concatenate(resid)
    poisson = config.updated(survey={"noise_model": "poisson"})
    z = []
    for seed in seeds[:10]:
        maps = simulate_sample_with_info(poisson, seed)[0]
        obs = maps["mask"] > 0
        z.append((maps["g1"] - maps["g1_noiseless"])[obs] / maps["noise"][obs])
    return expected, float(resid.std()), float(np.concatenate(z).std()), np.array(fractions)


def fmt_row(values, width=7, prec=3):
    return " ".join(f"{v:{width}.{prec}f}" for v in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--maps", type=int, default=300, help="maps per spectrum estimate (Gaussian/lognormal)")
    parser.add_argument("--halo-maps", type=int, default=100, help="maps per estimate with halos")
    parser.add_argument("--quick", action="store_true", help="fewer maps (a smoke run)")
    args = parser.parse_args()
    if args.quick:
        args.maps, args.halo_maps = 30, 10
    t0 = time.perf_counter()
    base = preset("csst")
    out: dict = {"version": __version__, "preset": "csst", "map": "256^2 x 0.41 arcmin", "maps": args.maps,
                 "halo_maps": args.halo_maps}

    print(f"miu2net {__version__}: simulated-data validation, preset csst (256² x 0.41'), pyccl Planck 2018 halofit, z_s = 1")
    print("\n1-2. C_ell(measured, mean over maps) / C_ell(pyccl, binned), per ell bin (cut 256² maps unless noted)")
    rows = {}
    gauss = base.updated(sim={"field": "gaussian", "halos": {"enabled": False}})
    ell, r_g, n_modes, _ = spectrum_ratio(gauss, range(args.maps))
    rows["gaussian"] = r_g
    rows["gaussian, periodic box"] = spectrum_ratio(gauss, range(args.maps), cut=False)[1]
    logn = base.updated(sim={"field": "lognormal", "halos": {"enabled": False}})
    _, r_l, _, ln_maps = spectrum_ratio(logn, range(args.maps))
    rows["lognormal"] = r_l
    _, r_h, _, halo_maps = spectrum_ratio(base, range(args.halo_maps))
    rows["gaussian+halos (default)"] = r_h
    _, r_hn, _, _ = spectrum_ratio(base.updated(sim={"subtract_halo_power": False}), range(args.halo_maps))
    rows["gaussian+halos, no subtraction"] = r_hn
    ell_h, r_1h = halo_power_ratio(base, range(args.halo_maps))
    print(f"{'ell':>32s} " + " ".join(f"{v:7.0f}" for v in ell))
    print(f"{'modes per bin (cut map)':>32s} " + " ".join(f"{v:7d}" for v in n_modes))
    for name, r in rows.items():
        print(f"{name:>32s} " + fmt_row(r))
    print(f"{'halo-only / 1-halo (512² box)':>32s} " + fmt_row(r_1h))
    print(f"{'(its box ell)':>32s} " + " ".join(f"{v:7.0f}" for v in ell_h))
    use = ell >= 600
    print(f"  max |ratio - 1| for ell >= 600: gaussian {np.max(np.abs(r_g[use] - 1)):.3f}, lognormal "
          f"{np.max(np.abs(r_l[use] - 1)):.3f}, gaussian+halos {np.max(np.abs(r_h[use] - 1)):.3f}")
    out["spectra"] = {"ell": ell.tolist(), "n_modes": n_modes.tolist(), **{k: v.tolist() for k, v in rows.items()},
                      "halo_only_over_one_halo": {"ell": ell_h.tolist(), "ratio": r_1h.tolist()}}

    print("\n3. One-point PDF of kappa (pixels of the cut maps)")
    model = field_model(logn.to_json())
    s2 = model.sigma_g2
    sk_theory = (np.exp(s2) + 2) * np.sqrt(np.expm1(s2))
    sk_ln = float(stats.skew(ln_maps.ravel()))
    sk_h = float(stats.skew(halo_maps.ravel()))
    gauss_maps = np.array([cut_center(simulate_truth(gauss, s)[0], (256, 256)) for s in range(args.halo_maps)])
    sk_g = float(stats.skew(gauss_maps.ravel()))
    print(f"  skewness: gaussian {sk_g:+.3f}, lognormal {sk_ln:+.3f} (analytic {sk_theory:+.3f}, shift {model.shift:.4f}), "
          f"gaussian+halos {sk_h:+.3f}")
    print(f"  std: gaussian {gauss_maps.std():.4f}, lognormal {ln_maps.std():.4f}, gaussian+halos {halo_maps.std():.4f}; "
          f"max kappa with halos {halo_maps.max():.3f}")
    out["pdf"] = {"skew_gaussian": sk_g, "skew_lognormal": sk_ln, "skew_lognormal_analytic": float(sk_theory),
                  "skew_gaussian_halos": sk_h, "lognormal_shift": model.shift,
                  "std": {"gaussian": float(gauss_maps.std()), "lognormal": float(ln_maps.std()), "gaussian_halos": float(halo_maps.std())}}

    print("\n4. Inserted halos (M200c >= 3e14, isolated): mean annular kappa / analytic BMO-NFW annulus mean")
    edges, prof, n_iso = inserted_profiles(base, range(max(4, args.halo_maps // 10)))
    print(f"  annulus [px]  " + " ".join(f"{lo:>4.1f}-{hi:<4.1f}" for lo, hi in zip(edges[:-1], edges[1:])))
    print(f"  ratio         " + " ".join(f"{prof[lo][0]:9.3f}" for lo in edges[:-1]) + f"   ({n_iso} halos)")
    out["profiles"] = {"edges_pix": edges.tolist(), "ratio": [prof[lo][0] for lo in edges[:-1]],
                       "error": [prof[lo][1] for lo in edges[:-1]], "n_halos": n_iso}

    print("\n5. Analytic NFW")
    worst_mean, worst_paint = analytic_nfw_checks()
    print(f"  mean kappa inside R vs integral of the profile (WB00 and BMO09): max rel. error {worst_mean:.1e}")
    print(f"  painted mass vs analytic enclosed mass (sub-pixel cusp): max rel. error {worst_paint:.1e}")
    out["analytic"] = {"mean_inside_vs_integral": worst_mean, "painted_vs_enclosed": worst_paint}

    print("\n6-7. Noise and masks (30 samples each)")
    for name in ("csst", "csst-small"):
        expected, measured, z_std, fr = noise_and_masks(preset(name), list(range(30)))
        lo, hi = preset(name).survey.mask.masked_fraction
        print(f"  {name:10s} noise per pixel: measured {measured:.5f} vs sigma_e/sqrt2/sqrt(n A) {expected:.5f} "
              f"(ratio {measured / expected:.4f}); Poisson std(resid/sigma) {z_std:.3f}")
        print(f"  {name:10s} masked fraction: min {fr.min():.3f}, mean {fr.mean():.3f}, max {fr.max():.3f} (configured {lo}-{hi})")
        out[f"noise_{name}"] = {"expected": expected, "measured": measured, "poisson_normalised_std": z_std}
        out[f"masks_{name}"] = {"min": float(fr.min()), "mean": float(fr.mean()), "max": float(fr.max()), "range": [lo, hi]}
    out["seconds"] = time.perf_counter() - t0
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "validate_sims.json").write_text(json.dumps(out, indent=2))
    print(f"\n({out['seconds']:.0f} s; written {RESULTS / 'validate_sims.json'})")


if __name__ == "__main__":
    main()
