"""Make the bundled example: a shear catalogue of a merging cluster pair with realistic shape noise.

    python examples/make_example_catalogue.py  [--out examples/merging_pair_catalogue.fits]

Truth: two NFW halos (M200c = 8e14 and 4e14 Msun, c = 4 and 5) at z = 0.3, 2 Mpc/h (comoving) apart
east-west, as particles projected onto a fine grid (miu2net.sims.particles); sources at z = 1.
Galaxies: 25 per arcmin^2, uniform over a 60' x 60' field centred on (RA, Dec) = (150, 2.2) deg, each
with an intrinsic ellipticity (sigma_e = 0.4 total rms) sheared by the reduced shear at its position:
e = (e_s + g)/(1 + g* e_s), in the (east, north) frame. Columns: ra, dec [deg], e1, e2, weight.
The truth map is written beside it (``*_truth.fits``, KAPPA_TRUE with its WCS).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from scipy.interpolate import RegularGridInterpolator

from miu2net.io import default_wcs
from miu2net.physics.operators import ks93_forward
from miu2net.physics.shear import compose_ellipticity, draw_intrinsic_ellipticities, reduced_shear
from miu2net.physics.cosmology import planck18
from miu2net.sims.particles import merging_pair_particles, project_kappa

CENTER = (150.0, 2.2)
FIELD_ARCMIN = 60.0
N_GAL = 25.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "merging_pair_catalogue.fits")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    z_lens, z_source = 0.3, 1.0
    pair = merging_pair_particles(rng, m1=8e14, m2=4e14, separation_mpc_h=2.0, z=z_lens, n_particles=800_000,
                                  box=40.0)
    # A fine truth grid twice the field's size (so the shear is not periodic over the field).
    import pyccl as ccl

    cosmo = planck18()
    d_a = ccl.angular_diameter_distance(cosmo, 1 / (1 + z_lens))
    npix = 960
    side_rad = np.deg2rad(2 * FIELD_ARCMIN / 60.0)
    box = side_rad * d_a * cosmo["h"] * (1 + z_lens)  # comoving Mpc/h spanning twice the field
    origin = tuple(20.0 - box / 2 for _ in range(3))
    kappa, pixel_arcmin = project_kappa(pair, axis="z", z_lens=z_lens, z_source=z_source, npix=npix, box=box,
                                        origin=origin)
    g1, g2 = reduced_shear(*ks93_forward(kappa, pad=True), kappa)
    # Galaxy positions: uniform in the tangent plane (east xi, north eta, arcmin).
    n = int(N_GAL * FIELD_ARCMIN**2)
    xi = rng.uniform(-FIELD_ARCMIN / 2, FIELD_ARCMIN / 2, n)
    eta = rng.uniform(-FIELD_ARCMIN / 2, FIELD_ARCMIN / 2, n)
    # Grid axes: map x runs along particle x, which we place to the WEST (x = -xi), map y along north.
    coords = (np.arange(npix) + 0.5 - npix / 2) * pixel_arcmin
    interp = [RegularGridInterpolator((coords, coords), comp) for comp in (g1, g2)]
    pts = np.stack([eta, -xi], axis=1)
    g_pix = interp[0](pts) + 1j * interp[1](pts)
    g_sky = np.conj(g_pix)  # map frame (west, north) -> (east, north) frame: mirror negates g2
    e = compose_ellipticity(draw_intrinsic_ellipticities(rng, n, shape_noise_sigma=0.4), g_sky)
    wcs = default_wcs((2, 2), 1.0, center_deg=CENTER)
    # world from tangent-plane offsets: pixel offsets of 1 arcmin with x to the west
    ra, dec = wcs.pixel_to_world_values(0.5 - xi, 0.5 + eta)
    table = Table({"ra": ra, "dec": dec, "e1": e.real.astype(np.float32), "e2": e.imag.astype(np.float32),
                   "weight": np.ones(n, dtype=np.float32)})
    table.meta["COMMENT"] = ["miu2net example: merging NFW pair at z=0.3, sources z=1, sigma_e=0.4, 25/arcmin2"]
    table.write(args.out, format="fits", overwrite=True)
    crop = slice(npix // 4, 3 * npix // 4)
    truth_wcs = default_wcs((npix // 2, npix // 2), pixel_arcmin, center_deg=CENTER)
    hdu = fits.ImageHDU(kappa[crop, crop].astype(np.float32), name="KAPPA_TRUE", header=truth_wcs.to_header())
    hdu.header["PIXSCALE"] = pixel_arcmin
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(args.out.with_name(args.out.stem + "_truth.fits"), overwrite=True)
    print(f"wrote {args.out} ({n} galaxies) and the truth map ({npix // 2}^2 at {pixel_arcmin:.3f}')")


if __name__ == "__main__":
    main()
