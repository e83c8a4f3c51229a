"""Matplotlib figures. Each function draws from arrays and writes one file; nothing here computes physics.

Maps are shown with ``origin="lower"`` (row 0 at the bottom, as FITS viewers do) and axes in arcmin.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save_atomic(fig, path: str | Path, dpi: int = 120) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.", suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)


def plot_kappa(
    kappa_e: np.ndarray,
    path: str | Path,
    *,
    pixel_arcmin: float,
    kappa_b: np.ndarray | None = None,
    snr: np.ndarray | None = None,
    title: str = "",
) -> None:
    """E-mode convergence (and B mode and S/N when given) side by side, on a common colour scale."""
    panels = [("$\\kappa_E$", kappa_e, "RdBu_r")]
    if kappa_b is not None:
        panels.append(("$\\kappa_B$", kappa_b, "RdBu_r"))
    if snr is not None:
        panels.append(("S/N", snr, "viridis"))
    ny, nx = kappa_e.shape
    extent = (0, nx * pixel_arcmin, 0, ny * pixel_arcmin)
    vmax = float(np.nanpercentile(np.abs(kappa_e), 99.5)) or 1.0
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.2), squeeze=False)
    for ax, (label, data, cmap) in zip(axes[0], panels):
        lim = dict(vmin=-vmax, vmax=vmax) if cmap == "RdBu_r" else {}
        im = ax.imshow(data, origin="lower", cmap=cmap, extent=extent, **lim)
        ax.set_title(label)
        ax.set_xlabel("x [arcmin]")
        ax.set_ylabel("y [arcmin]")
        fig.colorbar(im, ax=ax, shrink=0.85)
    if title:
        fig.suptitle(title)
    _save_atomic(fig, path)


def plot_comparison(maps: dict[str, np.ndarray], path: str | Path, *, pixel_arcmin: float, title: str = "") -> None:
    """Maps side by side on the colour scale of the first (the truth), e.g. truth, MIU2Net, KS."""
    names = list(maps)
    first = maps[names[0]]
    ny, nx = first.shape
    extent = (0, nx * pixel_arcmin, 0, ny * pixel_arcmin)
    vmin, vmax = float(np.percentile(first, 0.5)), float(np.percentile(first, 99.8))
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4.0), squeeze=False)
    for ax, name in zip(axes[0], names):
        im = ax.imshow(maps[name], origin="lower", cmap="magma", extent=extent, vmin=vmin, vmax=vmax)
        ax.set_title(name)
        ax.set_xlabel("x [arcmin]")
    axes[0][0].set_ylabel("y [arcmin]")
    fig.colorbar(im, ax=list(axes[0]), shrink=0.85, label="$\\kappa$")
    if title:
        fig.suptitle(title)
    _save_atomic(fig, path)
