"""N-body projection: CIC conservation, units, the projected NFW profile, readers and the CLI."""

import numpy as np
import pytest
from astropy.io import fits
from scipy import integrate
from typer.testing import CliRunner

from miu2net.cli import app
from miu2net.errors import InputError
from miu2net.physics.cosmology import planck18, sigma_crit
from miu2net.sims.particles import (
    cic_deposit,
    merging_pair_particles,
    nfw_particles,
    project_kappa,
    read_particles,
    write_gadget_hdf5,
)

runner = CliRunner()


def test_cic_conserves_mass_and_centres(rng):
    x, y = rng.uniform(2, 30, 1000), rng.uniform(2, 30, 1000)
    w = rng.uniform(1, 2, 1000)
    grid = cic_deposit(x, y, w, 32, periodic=False)
    np.testing.assert_allclose(grid.sum(), w.sum(), rtol=1e-12)
    # A particle at a pixel centre lands in that pixel only.
    one = cic_deposit(np.array([5.5]), np.array([7.5]), np.array([1.0]), 16, periodic=False)
    assert one[7, 5] == pytest.approx(1.0)
    wrapped = cic_deposit(np.array([0.1]), np.array([0.1]), np.array([1.0]), 8, periodic=True)
    assert wrapped.sum() == pytest.approx(1.0) and wrapped[7, 7] > 0


def _sigma_truncated_nfw(radius_phys, m200c, conc, z):
    """Projected density (Msun / Mpc^2, physical) of an NFW sphere cut sharply at r200c."""
    import pyccl as ccl

    cosmo = planck18()
    rho_c = ccl.rho_x(cosmo, 1 / (1 + z), "critical")
    r200 = (3 * m200c / (4 * np.pi * 200 * rho_c)) ** (1 / 3)
    r_s = r200 / conc
    rho_s = m200c / (4 * np.pi * r_s**3 * (np.log1p(conc) - conc / (1 + conc)))

    def rho(r):
        x = r / r_s
        return rho_s / (x * (1 + x) ** 2)

    out = []
    for big_r in radius_phys:
        if big_r >= r200:
            out.append(0.0)
            continue
        z_max = np.sqrt(r200**2 - big_r**2)
        out.append(2 * integrate.quad(lambda s: rho(np.hypot(big_r, s)), 0, z_max, limit=200)[0])
    return np.array(out), r200


def test_projected_nfw_matches_analytic_profile():
    rng = np.random.default_rng(5)
    m200c, conc, z_l, z_s = 1e15, 4.0, 0.3, 1.0
    h = planck18()["h"]
    particles = nfw_particles(rng, m200c=m200c, concentration=conc, z=z_l, n_particles=1_000_000,
                              center=(5.0, 5.0, 5.0))
    box, npix = 6.0, 120  # comoving Mpc/h around the halo
    kappa, pixel_arcmin = project_kappa(particles, axis="z", z_lens=z_l, z_source=z_s, npix=npix, box=box,
                                        origin=(2.0, 2.0, 2.0))
    np.testing.assert_allclose(kappa.sum() * (box / npix / h / (1 + z_l)) ** 2 * sigma_crit(z_l, z_s), m200c,
                               rtol=1e-6, err_msg="projected mass is not the halo mass")
    pix_phys = box / npix / h / (1 + z_l)
    yy, xx = np.mgrid[0:npix, 0:npix]
    r_pix = np.hypot(xx + 0.5 - npix / 2, yy + 0.5 - npix / 2)
    edges = np.array([4, 6, 9, 13, 18, 25, 33])  # pixels; 1 pixel = 50 kpc/h comoving
    measured, centres = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (r_pix >= lo) & (r_pix < hi)
        measured.append(kappa[sel].mean())
        centres.append(r_pix[sel].mean())
    expected, r200 = _sigma_truncated_nfw(np.array(centres) * pix_phys, m200c, conc, z_l)
    expected = expected / sigma_crit(z_l, z_s)
    assert np.array(centres).max() * pix_phys < r200
    np.testing.assert_allclose(measured, expected, rtol=0.04,
                               err_msg="CIC projection of NFW particles departs from the analytic profile")
    # Angular pixel: physical pixel over the angular-diameter distance.
    import pyccl as ccl

    d_a = ccl.angular_diameter_distance(planck18(), 1 / (1 + z_l))
    assert pixel_arcmin == pytest.approx(pix_phys / d_a * 180 * 60 / np.pi)


def test_gadget_round_trip_and_cli(tmp_path):
    rng = np.random.default_rng(1)
    pair = merging_pair_particles(rng, n_particles=60_000)
    h = planck18()["h"]
    path = write_gadget_hdf5(pair, tmp_path / "pair.hdf5", hubble=h)
    back = read_particles(path)
    np.testing.assert_allclose(back.positions, pair.positions, rtol=1e-5)
    np.testing.assert_allclose(back.masses.sum(), pair.masses.sum(), rtol=1e-5)
    out, png = tmp_path / "kappa.fits", tmp_path / "cmp.png"
    result = runner.invoke(app, ["project", str(path), "--z-lens", "0.3", "--z-source", "1.0", "--axes", "x,z",
                                 "--npix", "64", "-o", str(out), "--compare-png", str(png),
                                 "--compare-methods", "ks"])
    assert result.exit_code == 0, result.output
    with fits.open(out) as hdul:
        names = [h.name for h in hdul]
        assert "KAPPA_X" in names and "KAPPA_Z" in names and "KAPPA_Y" not in names
        kz = hdul["KAPPA_Z"].data
        # Along z both halos are seen, separated along the map's x axis.
        assert kz.max() > 0.3 and hdul["KAPPA_Z"].header["PIXSCALE"] > 0
        assert hdul["KAPPA_Z"].header["CTYPE1"] == "RA---TAN"
    assert png.stat().st_size > 5000


def test_gadget_declared_units_are_used(tmp_path):
    import h5py

    path = tmp_path / "mpc.hdf5"
    with h5py.File(path, "w") as f:
        head = f.create_group("Header")
        head.attrs["BoxSize"] = 100.0
        head.attrs["HubbleParam"] = 0.7
        head.attrs["MassTable"] = np.array([0, 2.0, 0, 0, 0, 0])
        params = f.create_group("Parameters")
        params.attrs["UnitLength_in_cm"] = 3.0856775814913673e24  # Mpc/h
        params.attrs["UnitMass_in_g"] = 1.988409870698051e43  # 1e10 Msun/h
        f.create_group("PartType1")["Coordinates"] = np.array([[10.0, 20.0, 30.0]])
    back = read_particles(path)
    assert back.box_size == pytest.approx(100.0)
    np.testing.assert_allclose(back.positions, [[10.0, 20.0, 30.0]])
    np.testing.assert_allclose(back.masses, [2e10], rtol=1e-9)


def test_npz_npy_units(tmp_path):
    pos = np.array([[1.0, 2.0, 3.0], [2.0, 2.0, 2.0]])
    np.savez(tmp_path / "p.npz", pos=pos * 1000, mass=np.array([1.0, 2.0]))
    back = read_particles(tmp_path / "p.npz", length_unit="kpc/h", mass_unit="1e10Msun/h")
    np.testing.assert_allclose(back.positions, pos)
    np.testing.assert_allclose(back.masses, [1e10, 2e10])
    np.save(tmp_path / "p.npy", pos)
    with pytest.raises(InputError, match="particle-mass"):
        read_particles(tmp_path / "p.npy")
    assert read_particles(tmp_path / "p.npy", particle_mass=5.0).masses.sum() == 10.0


def test_bad_project_input(tmp_path):
    junk = tmp_path / "junk.hdf5"
    junk.write_bytes(b"nope")
    result = runner.invoke(app, ["project", str(junk), "--z-lens", "0.3", "--z-source", "1", "-o",
                                 str(tmp_path / "k.fits")])
    assert result.exit_code == 2 and "error:" in result.output
    np.save(tmp_path / "p.npy", np.zeros((3, 3)))
    result = runner.invoke(app, ["project", str(tmp_path / "p.npy"), "--z-lens", "1.0", "--z-source", "0.5",
                                 "--particle-mass", "1", "-o", str(tmp_path / "k.fits")])
    assert result.exit_code == 2 and "z_lens < z_source" in result.output
    assert not (tmp_path / "k.fits").exists()
