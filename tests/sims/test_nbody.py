"""The N-body truth: halo finding and NFW restoration, the integrator, lens planes, Born maps, the plane bank."""

from __future__ import annotations

import numpy as np
import pytest

from miu2net.config import NBodyConfig
from miu2net.errors import InputError
from miu2net.sims.nbody import (
    RHO_CRIT_H2,
    friends_of_friends,
    nfw_radii,
    nfw_sharpen,
    project_planes,
    simulation_cosmology,
    slab_edges,
    step_schedule,
)

jaxpm = pytest.importorskip("jaxpm", reason="the N-body truth needs jaxpm")


def _clump(rng, n, centre, radius):
    direction = rng.normal(size=(n, 3))
    direction /= np.linalg.norm(direction, axis=1)[:, None]
    return centre + direction * radius * rng.uniform(0, 1, n)[:, None] ** (1 / 3)


def test_friends_of_friends_finds_clumps_across_the_periodic_edge():
    rng = np.random.default_rng(0)
    box = 10.0
    background = rng.uniform(0, box, size=(200, 3))  # mean spacing 1.7: 0.2 of it links nothing
    a = _clump(rng, 300, np.array([5.0, 5.0, 5.0]), 0.3)
    b = np.mod(_clump(rng, 200, np.array([0.0, 3.0, 7.0]), 0.3), box)  # straddles x = 0
    labels = friends_of_friends(np.vstack([background, a, b]), box, 0.2 * box / 200 ** (1 / 3) * 0.6)
    la, lb = labels[200:500], labels[500:]
    assert np.all(la == la[0]) and np.all(lb == lb[0]) and la[0] != lb[0]
    assert np.bincount(labels).max() <= 300 + 5


def test_nfw_radii_enclose_the_nfw_mass():
    c = 6.0
    q = np.array([0.1, 0.5, 0.9])
    x = nfw_radii(q, c) * c
    m = (np.log1p(x) - x / (1 + x)) / (np.log1p(c) - c / (1 + c))
    np.testing.assert_allclose(m, q, rtol=1e-3)


def test_nfw_sharpen_gives_an_nfw_halo_of_the_measured_mass():
    rng = np.random.default_rng(1)
    box = 50.0
    n_side = 24
    params = simulation_cosmology(0, 0.0)
    particle_mass = params["Omega_m"] * RHO_CRIT_H2 * box**3 / n_side**3
    background = rng.uniform(0, box, size=(n_side**3 - 3000, 3))
    centre = np.array([20.0, 30.0, 40.0])
    halo = _clump(rng, 3000, centre, 0.8)  # uniform sphere, far above 200 x mean density
    positions = np.vstack([background, halo])
    moved, info = nfw_sharpen(positions, box, particle_mass, 1.0, params, min_particles=20)
    assert moved.shape == positions.shape and info["n_restored"] >= 1
    m200 = 3000 * particle_mass
    r200 = (3 * m200 / (4 * np.pi * 200 * params["Omega_m"] * RHO_CRIT_H2)) ** (1 / 3)
    far = np.linalg.norm(background - centre, axis=1) > 2 * r200
    assert np.array_equal(moved[: len(background)][far], background[far])  # the field away from it is untouched
    r = np.linalg.norm(moved[len(background):] - centre, axis=1)
    assert r.max() <= r200 * 1.05
    # half the members inside the NFW half-mass radius of the Duffy et al. concentration (about 5-7)
    assert 0.1 * r200 < np.median(r) < 0.6 * r200
    # the profile follows the members' rank: the innermost stay innermost
    r_before = np.linalg.norm(halo - centre, axis=1)
    assert np.corrcoef(np.argsort(np.argsort(r_before)), np.argsort(np.argsort(r)))[0, 1] > 0.95


def test_step_schedule_stops_at_every_snapshot_with_bounded_steps():
    snaps = np.array([0.9, 0.35, 0.6])
    a = step_schedule(0.1, snaps, 0.05)
    assert a[0] == 0.1 and np.isclose(a[-1], 0.9)
    assert all(np.any(np.isclose(a, s, rtol=1e-12)) for s in snaps)
    assert np.all(np.diff(np.log(a)) <= 0.05 + 1e-12) and np.all(np.diff(a) > 0)


def test_slab_edges_cover_the_sources():
    e = slab_edges(64.0, 200.0)
    assert e[0] == 0 and e[-1] >= 200.0 and np.allclose(np.diff(e), 64.0)


def test_projected_planes_have_unit_mean_and_conserve_particles():
    rng = np.random.default_rng(2)
    pos = rng.uniform(0, 10.0, size=(5000, 3))
    planes = project_planes(pos, 10.0, 32)
    assert planes.shape == (3, 32, 32)
    np.testing.assert_allclose(planes.mean(axis=(1, 2)), 1.0, rtol=1e-12)


TINY = NBodyConfig(box_mpc_h=96.0, n_mesh=24, plane_pixels=64, max_dlna=0.1, n_simulations=2, n_test_simulations=1)


@pytest.fixture(scope="module")
def tiny_bank(tmp_path_factory):
    """One plane bank for the tests that simulate TINY's pools (each simulation runs once)."""
    return tmp_path_factory.mktemp("bank")


@pytest.fixture(scope="module")
def tiny_planes():
    from miu2net.sims.nbody import simulate_planes

    return simulate_planes(TINY, 11, chi_max=300.0)


def test_tiny_simulation_planes(tiny_planes):
    p = tiny_planes
    assert p.planes.shape == (2, 3, 64, 64) and p.planes.dtype == np.float16 and len(p.slab_snapshot) == 4
    assert np.all(np.isfinite(p.planes.astype(np.float32)))
    np.testing.assert_allclose(p.planes.astype(np.float64).mean(axis=(2, 3)), 1.0, rtol=2e-3)
    # structure grows: the nearest slab (latest snapshot) is more clustered than the farthest
    assert p.planes[0].astype(np.float32).std() > p.planes[-1].astype(np.float32).std()
    assert np.all(np.diff(p.a_slab) <= 0) and p.a_slab[0] > p.a_slab[-1]
    om = 0.2607 + 0.04897
    assert abs(p.cosmology["Omega_m"] / om - 1) <= 0.1 + 1e-9


def test_particle_mesh_grows_large_scales_as_linear_theory():
    """Low-k power of the PM run between two snapshots grows as the linear growth factor squared."""
    import jax_cosmo as jc

    from miu2net.sims.nbody import _jax_cosmology, run_particle_mesh

    params = simulation_cosmology(3, 0.0)
    box, n = 400.0, 32
    fields = {}

    def on_snapshot(i, a, x):
        import jax.numpy as jnp
        from jaxpm.painting import cic_paint

        rho = np.asarray(cic_paint(jnp.zeros((n, n, n)), jnp.asarray(x / box * n, dtype=jnp.float32)))
        fields[i] = np.fft.rfftn(rho / rho.mean() - 1)

    run_particle_mesh(params, box=box, n_mesh=n, seed=5, a_snapshots=np.array([0.25, 1.0]), a_start=0.1,
                      max_dlna=0.05, on_snapshot=on_snapshot)
    k = np.sqrt(np.add.outer(np.add.outer(np.fft.fftfreq(n) ** 2, np.fft.fftfreq(n) ** 2), np.fft.rfftfreq(n) ** 2))
    low = (k > 0) & (k < 3.5 / n)  # k < 0.055 h/Mpc: linear
    ratio = np.sum(np.abs(fields[1][low]) ** 2) / np.sum(np.abs(fields[0][low]) ** 2)
    cosmo = _jax_cosmology(jc, params)
    from jaxpm.growth import growth_factor

    expected = float(growth_factor(cosmo, np.array([1.0]))[0] / growth_factor(_jax_cosmology(jc, params),
                                                                              np.array([0.25]))[0]) ** 2
    assert ratio == pytest.approx(expected, rel=0.05)


def test_simulate_truth_nbody_cli_writes_the_store_contract(tmp_path, tiny_bank):
    """`miu2net simulate --truth nbody`: same Zarr contract, test maps from their own simulations."""
    from typer.testing import CliRunner

    from miu2net.cli import app
    from miu2net.config import preset, save_config
    from miu2net.sims.dataset import MAP_FIELDS, SimDataset
    from miu2net.sims.plane_bank import simulation_seeds

    cfg = preset("csst-small").updated(survey={"map_size": 32, "z_source": 0.3},
                                       sim={"nbody": TINY.model_dump()})
    path = save_config(cfg, tmp_path / "tiny.yaml")
    out, bank = tmp_path / "nb.zarr", tiny_bank
    res = CliRunner().invoke(app, ["simulate", "--config", str(path), "--truth", "nbody", "--bank", str(bank),
                                   "--n", "3", "--n-test", "2", "--scheduler", "sync", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "N-body truth" in res.output
    train, test = SimDataset(out, "train"), SimDataset(out, "test")
    assert set(train[0]) >= set(MAP_FIELDS) and train[0]["kappa"].shape == (32, 32)
    assert np.all(np.isfinite(train[0]["kappa"])) and train[0]["kappa"].std() > 0
    pool_train = set(simulation_seeds(cfg.sim.nbody.seed, "train", TINY.n_simulations))
    pool_test = set(simulation_seeds(cfg.sim.nbody.seed, "test", TINY.n_test_simulations))
    assert {train.info(i)["simulation"] for i in range(len(train))} <= pool_train
    assert {test.info(i)["simulation"] for i in range(len(test))} <= pool_test
    om = 0.2607 + 0.04897
    assert all(abs(train.info(i)["omega_m"] / om - 1) <= 0.1 + 1e-6 for i in range(len(train)))
    assert len(list((bank).glob("*/sim-*.zarr"))) == TINY.n_simulations + TINY.n_test_simulations


def test_truth_and_kappa_from_are_exclusive(tmp_path):
    from typer.testing import CliRunner

    from miu2net.cli import app

    (tmp_path / "k").mkdir()
    res = CliRunner().invoke(app, ["simulate", "--truth", "nbody", "--kappa-from", str(tmp_path / "k"),
                                   "-o", str(tmp_path / "x.zarr")])
    assert res.exit_code == 2 and "--truth and --kappa-from" in res.output
    res = CliRunner().invoke(app, ["simulate", "--truth", "sky", "-o", str(tmp_path / "y.zarr")])
    assert res.exit_code == 2 and "--truth must be halo_model or nbody" in res.output


def test_training_stream_draws_nbody_maps(tiny_bank):
    """`train --stream` on the N-body truth: fresh maps from the bank's training pool, non-periodic shear."""
    from miu2net.config import preset
    from miu2net.sims.stream import SimulationStream

    cfg = preset("csst-small").updated(survey={"map_size": 32, "z_source": 0.3},
                                       sim={"truth": "nbody", "nbody": {**TINY.model_dump(), "bank": str(tiny_bank)}})
    stream = SimulationStream(cfg, length=4, seed=1)
    a, b = stream.sample(0, 0), stream.sample(0, 1)
    assert a["kappa"].shape == (32, 32) and not np.array_equal(a["kappa"], b["kappa"])
    assert np.all(np.isfinite(a["g1"])) and a["mask"].sum() > 0
    with pytest.raises(InputError, match="views_per_truth"):
        SimulationStream(cfg, views_per_truth=2)
