"""Matplotlib figures. Each function draws from arrays and writes one file; nothing here computes physics.

Maps are shown with ``origin="lower"`` (row 0 at the bottom, as FITS viewers do), with RA/Dec axes from
the map's WCS where the figure has one (:func:`plot_reconstruction`), else in arcmin.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from miu2net.io.files import atomic_write


def _subplots(*grid, figsize: tuple[float, float], layout: str | None = None, **kwargs):
    """``pyplot.subplots`` without pyplot: a :class:`~matplotlib.figure.Figure` of its own, so importing
    this module sets no backend and keeps no figure alive."""
    fig = Figure(figsize=figsize, layout=layout)
    return fig, fig.subplots(*grid, **kwargs)


def _save_atomic(fig, path: str | Path, dpi: int = 120) -> None:
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png"), suffix=".png")


#: Display smoothing of κ_E and κ_B in the reconstruct figure, Gaussian σ in pixels of the map.
FIGURE_SMOOTH_PIXELS = 1.5


def detection_snr(kappa_e: np.ndarray, sigma_noise: np.ndarray | None) -> np.ndarray | None:
    """Detection S/N as lensing papers show it: κ_E over the noise-only σ (``SIGMA_NOISE``, from randomly
    rotated ellipticities passed through the same method, so smoothed as κ_E is), not over the total
    error (which grows at a peak and turns peaks into rings). None without a noise map."""
    if sigma_noise is None:
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sigma_noise > 0, kappa_e / sigma_noise, np.nan)


def _smooth(data: np.ndarray, sigma_pixels: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(np.nan_to_num(np.asarray(data, dtype=np.float64)), sigma_pixels, mode="nearest")


def _kappa_norm(kappa_e: np.ndarray, observed: np.ndarray):
    """A symmetric asinh stretch: linear over the noise (2x the robust rms of κ_E), logarithmic up to the
    highest peak |κ_E| of the observed area, so that both the field and the peaks show."""
    from matplotlib.colors import AsinhNorm

    values = kappa_e[observed] if observed.any() else kappa_e.ravel()
    values = values[np.isfinite(values)]
    top = float(np.max(np.abs(values))) if values.size else 1.0
    rms = 1.4826 * float(np.median(np.abs(values - np.median(values)))) if values.size else top
    return AsinhNorm(linear_width=max(2 * rms, 1e-3 * top, 1e-12), vmin=-(top or 1.0), vmax=top or 1.0)


def _map_axes(fig, position: int, wcs, shape, pixel_arcmin: float):
    """A panel of the 2x2 grid: RA/Dec axes (astropy WCSAxes) with a celestial WCS, else arcmin."""
    if wcs is not None:
        ax = fig.add_subplot(2, 2, position, projection=wcs.celestial)
        ra, dec = ax.coords[0], ax.coords[1]
        ra.set_axislabel("RA")
        dec.set_axislabel("Dec")
        ra.set_major_formatter("d.dd")
        dec.set_major_formatter("d.dd")
        ra.set_ticks(number=4)
        dec.set_ticks(number=4)
        return ax, {}
    ax = fig.add_subplot(2, 2, position)
    ny, nx = shape
    ax.set_xlabel("x [arcmin]")
    ax.set_ylabel("y [arcmin]")
    return ax, {"extent": (0, nx * pixel_arcmin, 0, ny * pixel_arcmin)}


def _mark_unobserved(ax, observed: np.ndarray, extent: dict) -> None:
    """Grey, hatched veil over the pixels without data (mask 0)."""
    if observed.all():
        return
    veil = np.where(observed, np.nan, 1.0)
    ax.imshow(veil, origin="lower", cmap="Greys", vmin=0, vmax=2, alpha=0.55, interpolation="nearest", **extent)
    kwargs = {"extent": extent["extent"]} if extent else {}
    ax.contourf((~observed).astype(float), levels=[0.5, 1.5], colors="none", hatches=["////"], origin="lower",
                **kwargs)


def plot_reconstruction(kappa, path: str | Path, *, mask: np.ndarray | None = None, title: str = "",
                        smooth_pixels: float = FIGURE_SMOOTH_PIXELS) -> None:
    """The figure of ``miu2net reconstruct --png``, laid out as lensing papers show mass maps.

    Four panels (2x2): κ_E and κ_B, both smoothed by the same Gaussian of ``smooth_pixels`` pixels for
    display, κ_E on a symmetric asinh scale (linear over the noise, up to the highest peak) and κ_B on
    its own symmetric linear scale (a trained model's κ_B is the raw KS null test, noise-dominated: on
    κ_E's scale it would read as B ≫ E); the detection S/N κ_E/σ_noise (:func:`detection_snr`, as in the
    FITS, unsmoothed by the figure); the total error σ (``SIGMA``, else ``SIGMA_NOISE``) from its 1st to
    its 99th percentile. The title names the model and its DATAOK (:func:`provenance_line`). Axes are RA/Dec from the map's WCS; pixels
    without data (``mask`` 0) are greyed and hatched. Panels without the map they need say so.

    Args:
        kappa: the :class:`miu2net.maps.KappaMap` written to FITS.
        path: PNG to write (atomically).
        mask: 1 observed, 0 no data, on the κ grid; None for all observed.
        title: the figure's title.
        smooth_pixels: display smoothing of κ_E and κ_B, Gaussian σ in pixels (0 for none).
    """
    observed = np.ones(kappa.shape, dtype=bool) if mask is None else np.asarray(mask) > 0
    show = (lambda m: _smooth(m, smooth_pixels)) if smooth_pixels > 0 else np.asarray
    kappa_e, kappa_b = show(kappa.kappa_e), show(kappa.kappa_b)
    smoothing = (f"Gaussian σ = {smooth_pixels * kappa.pixel_arcmin:.2g}′ for display" if smooth_pixels > 0
                 else "unsmoothed")
    norm = _kappa_norm(kappa_e, observed)
    snr = detection_snr(kappa.kappa_e, kappa.sigma_noise)
    error, error_name = ((kappa.sigma, "total error σ (68 %)") if kappa.sigma is not None
                         else (kappa.sigma_noise, "noise-only error σ_noise"))
    b_norm = _symmetric_norm(kappa_b, observed)
    b_label = ("$\\kappa_B$ (KS null test: noise, same smoothing, own scale)"
               if (kappa.meta.get("options") or {}).get("b_mode", "ks") == "ks" and kappa.meta.get("model")
               else "$\\kappa_B$ (same smoothing, own scale)")
    panels = [
        (f"$\\kappa_E$ ({smoothing})", kappa_e, "RdBu_r", norm, "$\\kappa_E$ (dimensionless)"),
        (b_label, kappa_b, "RdBu_r", b_norm, "$\\kappa_B$ (dimensionless)"),
        ("detection S/N = $\\kappa_E / \\sigma_{\\rm noise}$", snr, "RdBu_r", _snr_norm(snr, observed),
         "S/N (σ_noise from rotated ellipticities)"),
        (error_name, error, "viridis", _range_norm(error, observed), "σ (κ units, dimensionless)"),
    ]
    fig = Figure(figsize=(11.5, 10), layout="constrained")
    for position, (label, data, cmap, panel_norm, unit) in enumerate(panels, start=1):
        ax, extent = _map_axes(fig, position, kappa.wcs, kappa.shape, kappa.pixel_arcmin)
        ax.set_title(label, fontsize=10)
        if data is None:
            ax.text(0.5, 0.5, "not computed:\ngive --noise-realisations N", ha="center", va="center",
                    transform=ax.transAxes)
            continue
        shown = np.where(observed, data, np.nan) if cmap == "viridis" else data
        im = ax.imshow(shown, origin="lower", cmap=cmap, norm=panel_norm, interpolation="nearest", **extent)
        _mark_unobserved(ax, observed, extent)
        bar = fig.colorbar(im, ax=ax, shrink=0.82, label=unit)
        if panel_norm is norm:
            _asinh_ticks(bar, norm)
    fig.suptitle("\n".join(filter(None, [title, provenance_line(kappa.meta),
                                          "grey hatched: no galaxies (unobserved)"])), fontsize=11)
    _save_atomic(fig, path)


def provenance_line(meta: dict) -> str:
    """What made the map, for a figure's title: the model (and estimate) of a trained method and its
    DATAOK, else nothing."""
    if not meta.get("model"):
        return ""
    parts = [f"model {meta['model']}"]
    if meta.get("estimate"):
        parts.append(f"KAPPA_E = the {'power-faithful' if meta['estimate'] == 'power' else 'minimum-RMSE'} map")
    if "dataok" in meta:
        parts.append("DATAOK = T" if meta["dataok"] else "DATAOK = F: the data are not what the model knows")
    return "; ".join(parts)


def _symmetric_norm(data: np.ndarray, observed: np.ndarray):
    """Symmetric linear scale to the 99.5th percentile of |data| in the observed area."""
    from matplotlib.colors import Normalize

    values = np.abs(data[observed & np.isfinite(data)])
    top = float(np.percentile(values, 99.5)) if values.size else 0.0
    return Normalize(vmin=-top, vmax=top) if top > 0 else None


def _range_norm(data: np.ndarray | None, observed: np.ndarray):
    """Linear scale from the 1st to the 99th percentile of the observed area: one extreme pixel (a
    cluster's core, a lone galaxy) does not set the scale of the whole map."""
    from matplotlib.colors import Normalize

    if data is None:
        return None
    values = data[observed & np.isfinite(data)]
    if not values.size:
        return None
    lo, hi = np.percentile(values, [1.0, 99.0])
    return Normalize(vmin=float(lo), vmax=float(hi)) if hi > lo else None


def _asinh_ticks(bar, norm) -> None:
    """Readable ticks for an asinh colour bar: 0, ± the linear width and ± round values up to the peak."""
    from matplotlib.ticker import FixedLocator, FormatStrFormatter

    top, lin = norm.vmax, norm.linear_width
    ticks, last = [], lin / 3
    for exponent in range(int(np.floor(np.log10(lin))) - 1, int(np.ceil(np.log10(top))) + 1):
        for mantissa in (1, 2, 5):
            value = mantissa * 10.0**exponent
            if lin <= value <= top and value >= 3 * last:
                ticks.append(value)
                last = value
    ticks = sorted({0.0, *ticks, *(-t for t in ticks)})
    bar.ax.yaxis.set_major_locator(FixedLocator(ticks))
    bar.ax.yaxis.set_minor_locator(FixedLocator([]))
    bar.ax.yaxis.set_major_formatter(FormatStrFormatter("%.2g"))


def _snr_norm(snr: np.ndarray | None, observed: np.ndarray):
    """Symmetric linear S/N scale to the 99.5th percentile of |S/N| in the observed area (at least ±5):
    the field's noise stays visible, only the strongest peaks saturate."""
    from matplotlib.colors import Normalize

    if snr is None:
        return None
    values = np.abs(snr[observed & np.isfinite(snr)])
    top = max(float(np.percentile(values, 99.5)) if values.size else 0.0, 5.0)
    return Normalize(vmin=-top, vmax=top)


def plot_comparison(maps: dict[str, np.ndarray], path: str | Path, *, pixel_arcmin: float, title: str = "") -> None:
    """Maps side by side on the colour scale of the first (the truth), e.g. truth, MIU2Net, KS."""
    names = list(maps)
    first = maps[names[0]]
    ny, nx = first.shape
    extent = (0, nx * pixel_arcmin, 0, ny * pixel_arcmin)
    vmin, vmax = float(np.percentile(first, 0.5)), float(np.percentile(first, 99.8))
    fig, axes = _subplots(1, len(names), figsize=(4.2 * len(names), 4.0), squeeze=False)
    for ax, name in zip(axes[0], names):
        im = ax.imshow(maps[name], origin="lower", cmap="magma", extent=extent, vmin=vmin, vmax=vmax)
        ax.set_title(name)
        ax.set_xlabel("x [arcmin]")
    axes[0][0].set_ylabel("y [arcmin]")
    fig.colorbar(im, ax=list(axes[0]), shrink=0.85, label="$\\kappa$")
    if title:
        fig.suptitle(title)
    _save_atomic(fig, path)


def plot_examples(examples: list[dict], path: str | Path, *, pixel_arcmin: float) -> None:
    """Rows of test fields: truth then each method, on the truth's colour scale; masked pixels hatched grey."""
    if not examples:
        return
    names = [k for k in examples[0] if k != "mask"]
    fig, axes = _subplots(len(examples), len(names), figsize=(2.8 * len(names), 2.8 * len(examples)),
                             squeeze=False)
    for row, ex in zip(axes, examples):
        truth = ex["truth"]
        ny, nx = truth.shape
        extent = (0, nx * pixel_arcmin, 0, ny * pixel_arcmin)
        vmin, vmax = float(np.percentile(truth, 1)), float(np.percentile(truth, 99.9))
        for ax, name in zip(row, names):
            ax.imshow(ex[name], origin="lower", cmap="magma", extent=extent, vmin=vmin, vmax=vmax)
            ax.contour(ex["mask"], levels=[0.5], colors="cyan", linewidths=0.4, extent=extent, origin="lower")
            ax.set_xticks([])
            ax.set_yticks([])
        for ax, name in zip(axes[0], names):
            ax.set_title(name)
    _save_atomic(fig, path, dpi=70)  # noisy maps compress badly: keep the file small


def plot_spectra(report: dict, path: str | Path, *, tolerance: float = 0.04) -> None:
    """Mean power spectra of truth and each method, their ratio with a ±tolerance band, and r(ℓ)."""
    ell = np.asarray(report["ell"])
    fig, (top, mid, bot) = _subplots(3, 1, figsize=(6.5, 9), sharex=True,
                                     gridspec_kw={"height_ratios": [2, 1, 1]})
    top.loglog(ell, ell * (ell + 1) * np.asarray(report["cl_truth"]) / (2 * np.pi), "k-", lw=2, label="truth")
    for name, e in report["methods"].items():
        ratio = np.asarray(e["cl_ratio"])
        top.loglog(ell, ell * (ell + 1) * ratio * np.asarray(report["cl_truth"]) / (2 * np.pi), label=name)
        mid.semilogx(ell, ratio, label=name)
        bot.semilogx(ell, e["r_ell"], label=name)
    mid.axhspan(1 - tolerance, 1 + tolerance, color="grey", alpha=0.3)
    mid.axhline(1, color="k", lw=0.8)
    mid.set_ylim(0, 1.6)
    top.set_ylabel(r"$\ell(\ell+1)C_\ell/2\pi$")
    mid.set_ylabel(r"$C_\ell / C_\ell^{\rm true}$")
    bot.set_ylabel(r"$r(\ell)$")
    bot.set_ylim(0, 1.05)
    bot.set_xlabel(r"$\ell$")
    top.legend(fontsize=8)
    _save_atomic(fig, path)


def plot_pdfs(report: dict, path: str | Path) -> None:
    """One-point κ PDF of the truth and each method (log scale)."""
    edges = np.asarray(report["pdf_edges"])
    centres = 0.5 * (edges[1:] + edges[:-1])
    fig, ax = _subplots(figsize=(6.5, 4.5))
    ax.semilogy(centres, report["pdf_truth"], "k-", lw=2, label="truth")
    for name, e in report["methods"].items():
        ax.semilogy(centres, e["pdf"], label=name)
    ax.set_xlabel(r"$\kappa$")
    ax.set_ylabel("PDF")
    ax.legend(fontsize=8)
    _save_atomic(fig, path)


def plot_hist2d(hists: dict[str, np.ndarray], edges: np.ndarray, path: str | Path) -> None:
    """Reconstructed against true pixel κ over all test maps, one panel per method."""
    names = list(hists)
    fig, axes = _subplots(1, len(names), figsize=(3.6 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names):
        h = hists[name].T
        ax.imshow(np.log10(h + 1), origin="lower", extent=(edges[0], edges[-1], edges[0], edges[-1]), cmap="Greys")
        ax.plot([edges[0], edges[-1]], [edges[0], edges[-1]], "r-", lw=0.8)
        ax.set_title(name)
        ax.set_xlabel(r"$\kappa_{\rm true}$")
    axes[0][0].set_ylabel(r"$\kappa_{\rm rec}$")
    _save_atomic(fig, path)


def plot_peaks(report: dict, path: str | Path) -> None:
    """Peak counts per map against ν = κ/σ_truth (smoothed), truth and each method."""
    edges = np.asarray(report["nu_edges"])
    centres = 0.5 * (edges[1:] + edges[:-1])
    fig, ax = _subplots(figsize=(6.5, 4.5))
    ax.semilogy(centres, np.asarray(report["peak_counts_truth"]) + 1e-3, "k-", lw=2, label="truth")
    for name, e in report["methods"].items():
        ax.semilogy(centres, np.asarray(e["peak_counts"]) + 1e-3, label=name)
    ax.set_xlabel(r"$\nu = \kappa / \sigma_{\rm truth}$")
    ax.set_ylabel("peaks per map")
    ax.legend(fontsize=8)
    _save_atomic(fig, path)


def plot_sample(
    sample: dict,
    path: str | Path,
    *,
    pixel_arcmin: float,
    title: str = "",
    whisker_step: int | None = None,
) -> None:
    """One simulated sample side by side: truth kappa (with noiseless-shear whiskers), noisy g1, g2, and the mask.

    ``sample`` is a dict of maps ``[y, x]`` as :func:`miu2net.sims.simulate.simulate_sample` returns
    (``kappa``, ``g1``, ``g2``, ``mask`` required; ``g1_noiseless``/``g2_noiseless`` give the
    whiskers, drawn every ``whisker_step`` pixels, default map size / 24). Masked pixels of the noisy
    shear are shown grey.
    """
    kappa = np.asarray(sample["kappa"], dtype=np.float64)
    mask = np.asarray(sample["mask"], dtype=np.float64)
    ny, nx = kappa.shape
    extent = (0, nx * pixel_arcmin, 0, ny * pixel_arcmin)
    fig, axes = _subplots(1, 4, figsize=(19.5, 4.4), layout="constrained")
    kmax = float(np.nanpercentile(np.abs(kappa), 99.5)) or 1.0
    im = axes[0].imshow(kappa, origin="lower", cmap="RdBu_r", vmin=-kmax, vmax=kmax, extent=extent)
    fig.colorbar(im, ax=axes[0], shrink=0.85)
    axes[0].set_title("truth $\\kappa$")
    if "g1_noiseless" in sample and "g2_noiseless" in sample:
        step = whisker_step or max(nx // 24, 1)
        g1 = np.asarray(sample["g1_noiseless"])[step // 2 :: step, step // 2 :: step]
        g2 = np.asarray(sample["g2_noiseless"])[step // 2 :: step, step // 2 :: step]
        amp = np.hypot(g1, g2)
        phi = 0.5 * np.arctan2(g2, g1)  # orientation of the stretch, from the x axis
        yy, xx = np.mgrid[step // 2 : ny : step, step // 2 : nx : step]
        length = amp / (np.percentile(amp, 95) or 1.0) * step * pixel_arcmin
        axes[0].quiver((xx + 0.5) * pixel_arcmin, (yy + 0.5) * pixel_arcmin, length * np.cos(phi), length * np.sin(phi),
                       angles="xy", scale_units="xy", scale=1, headwidth=0, headlength=0, headaxislength=0,
                       pivot="middle", width=0.003, color="k")
    observed = mask > 0
    noisy = [np.where(observed, np.asarray(sample[k], dtype=np.float64), np.nan) for k in ("g1", "g2")]
    gmax = float(np.nanpercentile(np.abs(np.concatenate([n[observed] for n in noisy])), 99.5)) if observed.any() else 1.0
    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="0.6")
    for ax, data, label in zip(axes[1:3], noisy, ("noisy masked $g_1$", "noisy masked $g_2$")):
        im = ax.imshow(data, origin="lower", cmap=cmap, vmin=-gmax, vmax=gmax, extent=extent)
        fig.colorbar(im, ax=ax, shrink=0.85)
        ax.set_title(label)
    axes[3].imshow(mask, origin="lower", cmap="gray", vmin=0, vmax=1, extent=extent)
    axes[3].set_title(f"mask (1 observed), {1 - mask.mean():.1%} masked")
    for ax in axes:
        ax.set_xlabel("x [arcmin]")
        ax.set_ylabel("y [arcmin]")
    if title:
        fig.suptitle(title)
    _save_atomic(fig, path)


def plot_healpix(maps: dict, path: str | Path, *, title: str = "") -> None:
    """The figure of ``miu2net reconstruct --healpix``: the footprint on a Mollweide view of the sky, and
    κ_E and κ_B on a cartographic (plate carrée) view zoomed on the footprint, on one colour scale
    (1st-99th percentile of κ_E); RA grows to the left, as on the sky (healpy's projectors' convention)."""
    import healpy as hp

    kappa_e = np.asarray(maps["KAPPA_E"], dtype=np.float64)
    nside = hp.npix2nside(kappa_e.size)
    seen = kappa_e != hp.UNSEEN
    ra, dec = hp.pix2ang(nside, np.flatnonzero(seen), lonlat=True)
    centre = float(np.degrees(np.angle(np.mean(np.exp(1j * np.radians(ra))))) % 360.0)
    offset = (ra - centre + 180.0) % 360.0 - 180.0
    pad = 2.0 * np.degrees(hp.nside2resol(nside)) + 0.5
    lonra = [float(offset.min() - pad), float(offset.max() + pad)]
    latra = [float(max(dec.min() - pad, -90.0)), float(min(dec.max() + pad, 90.0))]

    def pix(x, y, z):
        return hp.vec2pix(nside, x, y, z)

    def project(values, projector):
        image = projector.projmap(np.where(seen, values, np.nan), pix)
        return np.where(np.isfinite(image), image, np.nan)

    fig, axes = _subplots(1, 3, figsize=(17.5, 4.8), layout="constrained", gridspec_kw={"width_ratios": [1.6, 1, 1]})
    sky = hp.projector.MollweideProj(xsize=800, rot=(centre, 0.0))
    footprint = project(np.ones_like(kappa_e), sky)
    on_sphere = np.isfinite(sky.projmap(np.zeros_like(kappa_e), pix))  # the ellipse of the whole sky
    axes[0].imshow(np.where(on_sphere, np.nan_to_num(footprint), np.nan), origin="lower", cmap="Blues",
                   vmin=-0.3, vmax=1.5)
    axes[0].set_title(f"footprint: {seen.mean() * 41253:.0f} deg², centred on RA {centre:.0f}°")
    axes[0].set_axis_off()
    zoom = hp.projector.CartesianProj(lonra=lonra, latra=latra, rot=(centre, 0.0), xsize=600)
    extent = (lonra[1], lonra[0], latra[0], latra[1])
    lo, hi = np.percentile(kappa_e[seen], [1, 99])
    bound = max(abs(lo), abs(hi))
    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="0.85")
    for ax, name in zip(axes[1:], ("KAPPA_E", "KAPPA_B")):
        image = project(np.asarray(maps[name], dtype=np.float64), zoom)
        im = ax.imshow(image, origin="lower", extent=extent, cmap=cmap, vmin=-bound, vmax=bound,
                       aspect="auto")
        ax.set_xlabel("RA − {:.0f}° [deg]".format(centre))
        ax.set_ylabel("Dec [deg]")
        ax.set_title(f"$\\kappa_{name[-1]}$ (NSIDE {nside})")
    fig.colorbar(im, ax=list(axes[1:]), shrink=0.85, label="$\\kappa$")
    if title:
        fig.suptitle(title)
    _save_atomic(fig, path)
