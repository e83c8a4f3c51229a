"""Validate the simulated training data: print the key statistics as short tables, write results/validate_sims.json.

    python benchmarks/validate_sims.py [--maps N] [--quick]
    python benchmarks/validate_sims.py --nbody-only [--nbody-maps 60] [--nbody-sims 2]   # 8. alone
                                                                   # (results/validate_nbody.json)

Checks (csst preset, 256² maps of 0.41'; a few minutes on one core):
  1. Gaussian / lognormal truth: mean measured C_ell of the cut maps over the pyccl input, per ell bin.
  2. Field + halos (the default): C_ell over pyccl, with the halos' 1-halo power subtracted from the field
     (default) and without (halos added on top); halo-only power over the analytic 1-halo term.
  3. One-point PDF: skewness of kappa with and without halos; lognormal skewness vs its analytic value.
  4. Inserted halos: mean annular kappa around isolated halos over the analytic (BMO) NFW annulus mean.
  5. Analytic NFW: mean kappa inside R vs the integral of the profile; painted mass vs enclosed mass.
  6. Noise: measured per-pixel std of g - g_noiseless vs (sigma_e/sqrt2)/sqrt(n_gal A_pix); Poisson counts.
  7. Masks: masked fraction over the samples vs the configured range.
  8. N-body truth (``--nbody`` or ``--nbody-only``; simulations are made in the plane bank first if missing,
     about 2-4 CPU minutes each): mean C_ell of the maps over pyccl's non-linear C_ell of each map's own
     cosmology (times the pixel window, which the maps, pixel averages, carry); the one-point PDF (std,
     skewness, excess kurtosis) at the pixel and after 1' smoothing and the peak counts by S/N, side by
     side for the N-body truth, the halo-model truth and a Gaussian field of the pyccl C_ell.
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


def pixel_window_model(cl_of_ell, shape, pixel_arcmin, edges):
    """Bin means of C(ell) W_pix^2(ell_x, ell_y): the expectation for maps of pixel averages."""
    from miu2net.physics.fourier import ell_components

    d = pixel_arcmin * ARCMIN_TO_RAD
    ly, lx = ell_components(shape, pixel_arcmin)
    window2 = (np.sinc(ly[:, None] * d / (2 * np.pi)) * np.sinc(lx[None, :] * d / (2 * np.pi))) ** 2
    ell = ell_grid(shape, pixel_arcmin)
    which = np.digitize(ell.ravel(), edges) - 1
    values = np.zeros_like(ell)
    values[ell > 0] = cl_of_ell(ell[ell > 0])
    values = (values * window2).ravel()
    ok = (which >= 0) & (which < len(edges) - 1) & (ell.ravel() > 0)
    return np.bincount(which[ok], values[ok], minlength=len(edges) - 1) / np.maximum(
        np.bincount(which[ok], minlength=len(edges) - 1), 1)


def one_point(maps, pixel_arcmin, smooth_arcmin=None):
    from miu2net.physics.smoothing import gaussian_smooth

    if smooth_arcmin:
        maps = np.array([gaussian_smooth(m, sigma_arcmin=smooth_arcmin, pixel_arcmin=pixel_arcmin) for m in maps])
    flat = (maps - maps.mean(axis=(1, 2), keepdims=True)).ravel()
    return {"std": float(flat.std()), "skewness": float(stats.skew(flat)), "kurtosis": float(stats.kurtosis(flat))}


def peak_density(maps, pixel_arcmin, *, n_gal, sigma_e=0.4, theta_g_arcmin=1.0, edges=(3, 4, 5, np.inf), seed=0):
    """Peaks per deg^2 of (truth + shape noise) smoothed by exp(-theta^2/theta_G^2) (sigma = theta_G/sqrt 2, the
    convention of Hamana et al. 2004), by S/N bin (S/N over the smoothed noise std)."""
    smooth_arcmin = theta_g_arcmin / np.sqrt(2)
    from miu2net.physics.smoothing import gaussian_smooth
    from miu2net.stats.peaks import peak_counts

    rng = np.random.default_rng(seed)
    sigma_pix = sigma_e / np.sqrt(2) / np.sqrt(n_gal * pixel_arcmin**2)
    smooth = lambda m: gaussian_smooth(m, sigma_arcmin=smooth_arcmin, pixel_arcmin=pixel_arcmin, mode="wrap")  # noqa: E731
    sigma_n = np.std([smooth(rng.normal(0, sigma_pix, maps.shape[1:])) for _ in range(8)])
    border = int(np.ceil(3 * smooth_arcmin / pixel_arcmin))
    counts = np.zeros(len(edges) - 1)
    for m in maps:
        snr = smooth(m - m.mean() + rng.normal(0, sigma_pix, m.shape)) / sigma_n
        counts += peak_counts(snr, np.asarray(edges, float), border=border)
    area = maps.shape[0] * ((maps.shape[1] - 2 * border) * pixel_arcmin / 60) ** 2
    return (counts / area).tolist()


def nbody_figure(truths, pix, ell, ratio, err, path):
    """Example maps (1' smoothing), C_ell over pyccl, and the one-point PDFs of the three truths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from miu2net.physics.smoothing import gaussian_smooth

    fig, axes = plt.subplots(1, 5, figsize=(21, 4.2), constrained_layout=True)
    extent = [0, truths["nbody"].shape[-1] * pix / 60] * 2
    for ax, (name, maps) in zip(axes[:3], truths.items()):
        m = gaussian_smooth(maps[0] - maps[0].mean(), sigma_arcmin=1.0, pixel_arcmin=pix)
        im = ax.imshow(m, origin="lower", cmap="inferno", vmin=-0.03, vmax=0.08, extent=extent)
        ax.set_title(f"{name} truth (1' smoothing)")
        ax.set_xlabel("x [deg]")
        ax.set_ylabel("y [deg]")
    fig.colorbar(im, ax=axes[2], label="κ")
    axes[3].errorbar(ell, ratio, yerr=err, fmt="o-", ms=3)
    axes[3].axhspan(0.9, 1.1, color="0.9")
    axes[3].axhline(1.0, color="k", lw=0.8)
    axes[3].axvline(1e4, color="0.5", ls=":")
    axes[3].set_xscale("log")
    axes[3].set_ylim(0.6, 1.6)
    axes[3].set_xlabel("ℓ")
    axes[3].set_ylabel("C_ℓ(N-body) / C_ℓ(pyccl) × W_pix²")
    axes[3].set_title("N-body C_ℓ against pyccl halofit (±10 % band)")
    bins = np.linspace(-0.06, 0.25, 80)
    for name, maps in truths.items():
        sm = np.array([gaussian_smooth(m, sigma_arcmin=1.0, pixel_arcmin=pix) for m in maps])
        axes[4].hist((sm - sm.mean(axis=(1, 2), keepdims=True)).ravel(), bins=bins, density=True, histtype="step",
                     label=name)
    axes[4].set_yscale("log")
    axes[4].set_xlabel("κ (1' smoothing, map mean removed)")
    axes[4].set_ylabel("PDF")
    axes[4].legend()
    axes[4].set_title("one-point PDF")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"   figure: {path}")


def nbody_section(args, out):
    from miu2net.physics.cosmology import cosmology, kappa_cl
    from miu2net.sims.simulate import nbody_truth

    base = preset("csst")
    nb = {"n_simulations": args.nbody_sims, **({"bank": args.bank} if args.bank else {})}
    cfg = base.updated(sim={"truth": "nbody", "nbody": nb})
    n, pix = cfg.survey.map_size, cfg.survey.pixel_arcmin
    t = time.perf_counter()
    maps, records = [], []
    for seed in range(args.nbody_maps):
        kappa, rec = nbody_truth(cfg, seed, "train")
        maps.append(cut_center(kappa, (n, n)))
        records.append(rec)
    per_map = (time.perf_counter() - t) / len(maps)
    maps = np.array(maps)
    d = pix * ARCMIN_TO_RAD
    edges = np.geomspace(200.0, np.pi / d, 15)
    measured = power_spectrum(maps, pix, ell_edges=edges)
    ratios, ratios_nowin = [], []
    for m, rec in zip(maps, records):
        c = cosmology(rec["omega_m"], rec["sigma8"])
        cl = lambda ell, c=c: kappa_cl(ell, cosmo=c, z_source=cfg.survey.z_source)  # noqa: E731
        one = power_spectrum(m[None], pix, ell_edges=edges).cl
        ratios.append(one / pixel_window_model(cl, (n, n), pix, edges))
        ratios_nowin.append(one / binned_model(cl, (n, n), pix, edges))
    ratio = np.mean(ratios, axis=0)
    err = np.std(ratios, axis=0) / np.sqrt(len(ratios))
    ratio_nowin = np.mean(ratios_nowin, axis=0)
    sims = sorted({r["simulation"] for r in records})
    print(f"\n8. N-body truth: {len(maps)} maps of 256² x 0.41' from {len(sims)} simulation(s) "
          f"({per_map:.2f} s per map drawn from the bank)")
    print("   C_ell(maps) / C_ell(pyccl halofit, each map's cosmology) x pixel window, mean over maps +- error")
    print(f"{'ell':>12s} " + " ".join(f"{v:7.0f}" for v in measured.ell))
    print(f"{'ratio':>12s} " + fmt_row(ratio))
    print(f"{'+-':>12s} " + fmt_row(err))
    print(f"{'no window':>12s} " + fmt_row(ratio_nowin))
    band = (measured.ell >= 200) & (measured.ell <= 1e4)
    print(f"   max |ratio - 1| for 200 <= ell <= 1e4: {np.max(np.abs(ratio[band] - 1)):.3f}")
    out["nbody_spectrum"] = {"ell": measured.ell.tolist(), "ratio_pixel_window": ratio.tolist(),
                             "error": err.tolist(), "ratio_no_window": ratio_nowin.tolist(),
                             "max_dev_200_1e4": float(np.max(np.abs(ratio[band] - 1))),
                             "n_maps": len(maps), "simulations": sims, "seconds_per_map": per_map}

    n_cmp = min(len(maps), args.nbody_maps)
    halo = np.array([cut_center(simulate_truth(base, s)[0], (n, n)) for s in range(n_cmp)])
    gauss_cfg = base.updated(sim={"field": "gaussian", "halos": {"enabled": False}})
    gauss = np.array([cut_center(simulate_truth(gauss_cfg, s)[0], (n, n)) for s in range(n_cmp)])
    truths = {"nbody": maps, "halo_model": halo, "gaussian": gauss}
    print("\n   One-point PDF of kappa (map mean removed): std / skewness / excess kurtosis")
    pdf = {}
    for name, m in truths.items():
        pdf[name] = {"pixel": one_point(m, pix), "smooth_1arcmin": one_point(m, pix, 1.0)}
        a, b = pdf[name]["pixel"], pdf[name]["smooth_1arcmin"]
        print(f"   {name:>11s}  pixel 0.41': {a['std']:.4f} / {a['skewness']:+.2f} / {a['kurtosis']:+.1f}"
              f"   1' smoothing: {b['std']:.4f} / {b['skewness']:+.2f} / {b['kurtosis']:+.1f}")
    out["nbody_pdf"] = pdf
    print("\n   Peaks per deg² of truth + shape noise (sigma_e 0.4), Gaussian smoothing theta_G = 1' "
          "(sigma 0.71'), S/N bins [3,4) [4,5) >=5")
    peaks = {}
    for n_gal in (50.0, 30.0):
        for name, m in truths.items():
            peaks[f"{name}_ngal{n_gal:g}"] = peak_density(m, pix, n_gal=n_gal)
            v = peaks[f"{name}_ngal{n_gal:g}"]
            print(f"   n_gal {n_gal:>4g}  {name:>11s}: " + "  ".join(f"{x:6.2f}" for x in v)
                  + f"   (S/N >= 4: {v[1] + v[2]:.2f})")
    out["nbody_peaks"] = peaks
    nbody_figure(truths, pix, measured.ell, ratio, err, RESULTS / "validate_nbody.png")
    print("   Published N-body value (Hamana, Takada & Yoshida 2004, MNRAS 350, 893; n_gal 30, <z_s> = 1, "
          "theta_G = 1'): 6.5 peaks/deg² at S/N >= 4 (their sources span an n(z); ours sit at z_s = 1)")


def fmt_row(values, width=7, prec=3):
    return " ".join(f"{v:{width}.{prec}f}" for v in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--maps", type=int, default=300, help="maps per spectrum estimate (Gaussian/lognormal)")
    parser.add_argument("--halo-maps", type=int, default=100, help="maps per estimate with halos")
    parser.add_argument("--quick", action="store_true", help="fewer maps (a smoke run)")
    parser.add_argument("--nbody", action="store_true", help="also section 8 (the N-body truth)")
    parser.add_argument("--nbody-only", action="store_true", help="section 8 alone (results/validate_nbody.json)")
    parser.add_argument("--nbody-maps", type=int, default=60, help="N-body maps for section 8")
    parser.add_argument("--nbody-sims", type=int, default=2, help="training-pool simulations the maps come from")
    parser.add_argument("--bank", default=None, help="plane-bank folder (default: $MIU2NET_NBODY_BANK or the cache)")
    args = parser.parse_args()
    if args.nbody_only:
        out = {"version": __version__, "preset": "csst"}
        t0 = time.perf_counter()
        nbody_section(args, out)
        out["seconds"] = time.perf_counter() - t0
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "validate_nbody.json").write_text(json.dumps(out, indent=2))
        print(f"\n({out['seconds']:.0f} s; written {RESULTS / 'validate_nbody.json'})")
        return
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
    if args.nbody:
        nbody_section(args, out)
    out["seconds"] = time.perf_counter() - t0
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "validate_sims.json").write_text(json.dumps(out, indent=2))
    print(f"\n({out['seconds']:.0f} s; written {RESULTS / 'validate_sims.json'})")


if __name__ == "__main__":
    main()
