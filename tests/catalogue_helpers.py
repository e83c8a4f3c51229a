"""Synthetic shear catalogues: GalSim's analytic NFW shear (independent of our physics), and uniform noise-only ones."""

import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits


def tangent_to_sky(xi_deg, eta_deg, ra0, dec0):
    """Inverse gnomonic projection: offsets east (xi) and north (eta) in degrees -> (ra, dec) degrees."""
    xi, eta = np.deg2rad(xi_deg), np.deg2rad(eta_deg)
    d0, a0 = np.deg2rad(dec0), np.deg2rad(ra0)
    rho = np.hypot(xi, eta)
    c = np.arctan(rho)
    with np.errstate(invalid="ignore", divide="ignore"):
        dec = np.arcsin(np.cos(c) * np.sin(d0) + np.where(rho > 0, eta * np.sin(c) * np.cos(d0) / rho, 0.0))
    ra = a0 + np.arctan2(xi * np.sin(c), rho * np.cos(d0) * np.cos(c) - eta * np.sin(d0) * np.sin(c))
    return np.rad2deg(ra) % 360.0, np.rad2deg(dec)


def nfw_catalogue(rng, *, ra0=150.0, dec0=2.0, halo_offset_arcmin=(0.0, 0.0), side_arcmin=40.0,
                  n_per_arcmin2=30.0, mass=8e14, conc=5.0, z_lens=0.3, z_source=1.0, sigma_e=0.26,
                  signal=True):
    """Galaxies uniform on a square about (ra0, dec0); e = (e_s + g)/(1 + g* e_s) in the (east, north) frame.

    The halo sits at ``halo_offset_arcmin`` (east, north) from the centre. Returns a dict of columns and
    the halo's (ra, dec).
    """
    import galsim

    n = int(n_per_arcmin2 * side_arcmin**2)
    xi = rng.uniform(-side_arcmin / 2, side_arcmin / 2, n)  # arcmin east
    eta = rng.uniform(-side_arcmin / 2, side_arcmin / 2, n)  # arcmin north
    ra, dec = tangent_to_sky(xi / 60.0, eta / 60.0, ra0, dec0)
    halo_ra, halo_dec = tangent_to_sky(halo_offset_arcmin[0] / 60.0, halo_offset_arcmin[1] / 60.0, ra0, dec0)
    e_s = sigma_e * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
    e_s = np.where(np.abs(e_s) < 0.95, e_s, 0.0)
    if signal:
        halo = galsim.NFWHalo(mass=mass, conc=conc, redshift=z_lens, omega_m=0.3, omega_lam=0.7)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            g1, g2 = halo.getShear(((xi - halo_offset_arcmin[0]) * 60.0, (eta - halo_offset_arcmin[1]) * 60.0),
                                   z_s=z_source, units=galsim.arcsec, reduced=True)
        g = np.asarray(g1) + 1j * np.asarray(g2)
        e = (e_s + g) / (1 + np.conj(g) * e_s)
    else:
        e = e_s
    columns = {"ra": ra, "dec": dec, "e1": e.real, "e2": e.imag, "weight": np.ones(n)}
    return columns, (float(halo_ra), float(halo_dec))


def write_catalogue(columns, path):
    from astropy.table import Table

    table = Table(columns)
    if str(path).endswith(".parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({k: np.asarray(v) for k, v in columns.items()}), path)
    elif str(path).endswith(".csv"):
        table.write(path, format="ascii.csv", overwrite=True)
    else:
        table.write(path, format="fits", overwrite=True)
    return path


def uniform_catalogue(path, n=4000, side_deg=0.3, ra0=150.0, dec0=2.0, seed=1, units=None, **overrides):
    """A uniform catalogue of ``n`` galaxies on a ``side_deg`` square, shape noise only; ``overrides``
    replace whole columns (arrays) or their first rows (dict ``{column: values}`` under ``"first"``);
    ``units`` gives columns a TUNIT; a ``.csv`` path writes CSV text (NaN as an empty cell)."""
    cols = uniform_columns(n, side_deg, ra0, dec0, seed)
    for name, values in overrides.get("first", {}).items():
        cols[name][: len(values)] = values
    if str(path).endswith(".csv"):
        text = [",".join(cols)] + [",".join("" if np.isnan(v) else f"{v:.8g}" for v in row) for row in zip(*cols.values())]
        Path(path).write_text("\n".join(text) + "\n")
        return path
    fits.BinTableHDU.from_columns([fits.Column(name=k, format="D", array=v, unit=(units or {}).get(k))
                                   for k, v in cols.items()]).writeto(path)
    return path


def uniform_columns(n, side_deg=0.3, ra0=150.0, dec0=2.0, seed=1):
    rng = np.random.default_rng(seed)
    return {"ra": ra0 + rng.uniform(-side_deg / 2, side_deg / 2, n), "dec": dec0 + rng.uniform(-side_deg / 2, side_deg / 2, n),
            "e1": 0.26 * rng.standard_normal(n).clip(-3, 3), "e2": 0.26 * rng.standard_normal(n).clip(-3, 3),
            "weight": np.ones(n)}
