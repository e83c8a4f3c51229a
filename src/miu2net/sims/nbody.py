r"""A particle-mesh N-body simulation cut into lens planes: the cosmic-web truth.

One simulation, a pure function of ``(NBodyConfig, seed)`` (:func:`simulate_planes`):

1. **Cosmology.** Flat ΛCDM, Planck 2018 except :math:`\Omega_m` and :math:`\sigma_8`, each drawn
   uniformly within ``cosmology_spread`` (±10 % by default) of Planck 2018 from the seed
   (:func:`simulation_cosmology`); :math:`\Omega_b`, :math:`h`, :math:`n_s` fixed.
2. **Initial conditions.** A density field on ``n_mesh``³ cells of a periodic box of side ``box_mpc_h``
   (comoving Mpc/h) with pyccl's linear :math:`P(k)` (CAMB) at :math:`a=1`, every Fourier mode of
   modulus :math:`\sqrt{P}` and random phase ("fixed", Angulo & Pontzen 2016, which removes the chance
   amplitudes of a small box's few large modes), moved to :math:`a_{\rm start}` by second-order LPT
   (``jaxpm.pm.lpt``, one particle per cell).
3. **Particle-mesh dynamics.** ``jaxpm``'s CIC force on the same mesh, integrated by the FastPM
   kick-drift-kick scheme (Feng et al. 2016: kick and drift factors from the linear growth functions,
   so that the linear growth is exact whatever the step) on steps of at most ``max_dlna`` in
   :math:`\ln a` that also stop at every snapshot. Equations (``jaxpm``'s units: positions in cells):
   :math:`dx/da = p/(a^3E)`, :math:`dp/da = \tfrac32\Omega_m F/(a^2E)`.
4. **Snapshots at the lens planes.** The light cone from :math:`\chi=0` to ``chi_max`` is cut into slabs
   of one box side each; every ``slabs_per_snapshot`` consecutive slabs share one snapshot, taken at the
   scale factor of their middle distance (two slabs of 64 Mpc/h: at most 64 Mpc/h from it, a growth
   difference under 2 % at z < 1). Maps draw each slab's plane independently (random axis, rotation,
   flip, shift); two slabs that share a snapshot and draw the same axis show the same structures at
   different places and angular scales (a third of the pairs).
5. **Small scales restored.** A mesh cannot hold halos smaller than a few cells, so the halos it forms
   are too few and too puffy, and the power falls below the non-linear spectrum from
   :math:`k \sim 0.5\,h`/Mpc (measured: 0.6 of halofit at 1-10 h/Mpc at z = 0). Two steps, in every
   snapshot: (a) ``pgd``: potential gradient descent (Dai, Feng & Seljak 2018, :func:`pgd_sharpen`)
   pulls mass into the halos, its strength fitted to halofit at 1-2.5 h/Mpc; (b) ``restore="nfw"``
   (:func:`nfw_sharpen`): friends-of-friends groups (linking length 0.2 of the mean particle spacing,
   at least ``min_halo_particles`` members, found before (a)) have their :math:`M_{200m}` measured around
   the densest member region (spherical overdensity on the members), and
   the members inside :math:`R_{200m}` moved radially, in rank order and keeping their directions, onto
   an NFW profile with the Duffy et al. (2008) :math:`c(M_{200m}, z)` (pyccl). Mass is conserved; the
   halos keep their positions, shapes' directions and mass; their inner profile becomes the one that
   higher-resolution simulations find.
6. **Lens planes.** Each snapshot (after restoration) is projected along x, y and z onto
   ``plane_pixels``² cells (CIC) as the surface density contrast :math:`\Sigma/\bar\Sigma` of the whole box (mean 1), stored float16.

Beyond this module: maps are drawn from the planes by :mod:`miu2net.sims.lightcone` (Born, random
rotations, flips and shifts), banked by :mod:`miu2net.sims.plane_bank`.

``jax`` and ``jaxpm`` are imported only when a simulation runs (drawing maps from banked planes needs
neither).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise

import numpy as np

from miu2net.errors import InputError
from miu2net.physics.cosmology import PLANCK18, cosmology

log = logging.getLogger(__name__)

#: Critical density today, in (Msun/h) / (Mpc/h)^3.
RHO_CRIT_H2 = 2.77536627e11
#: FoF linking length in units of the mean interparticle spacing.
FOF_LINKING = 0.2
#: Spherical overdensity of the halo mass definition, relative to the mean matter density.
DELTA_MEAN = 200.0


@dataclass(frozen=True)
class PlaneSet:
    """The lens planes of one simulation.

    Attributes:
        planes: ``[n_snapshot, 3, n, n]`` float16 surface density contrast :math:`\\Sigma/\\bar\\Sigma` of
            the box at each snapshot projected along x, y, z (map axes: along x (y, z), along y (z, x),
            along z (x, y)).
        chi_edges: ``[n_slab + 1]`` comoving distances of the slab boundaries, Mpc/h.
        slab_snapshot: ``[n_slab]`` the snapshot (index into ``planes``) of each slab.
        a_slab: ``[n_slab]`` scale factor of each slab's snapshot.
        box_mpc_h: the box side (Mpc/h), also the slab thickness.
        cosmology: ``Omega_m``, ``sigma8``, ``Omega_b``, ``h``, ``n_s`` of the simulation.
        seed: the simulation's seed.
        info: run statistics (seconds, halos restored per slab, ...).
    """

    planes: np.ndarray
    chi_edges: np.ndarray
    slab_snapshot: np.ndarray
    a_slab: np.ndarray
    box_mpc_h: float
    cosmology: dict
    seed: int
    info: dict = field(default_factory=dict)


def simulation_cosmology(seed: int, spread: float) -> dict:
    """Planck 2018 with :math:`\\Omega_m`, :math:`\\sigma_8` drawn uniformly in ``[1-spread, 1+spread]`` × Planck."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 7919]))
    omega_m0 = PLANCK18["Omega_c"] + PLANCK18["Omega_b"]
    f_om, f_s8 = rng.uniform(1.0 - spread, 1.0 + spread, size=2)
    return {"Omega_m": float(omega_m0 * f_om), "sigma8": float(PLANCK18["sigma8"] * f_s8),
            "Omega_b": PLANCK18["Omega_b"], "h": PLANCK18["h"], "n_s": PLANCK18["n_s"]}


def slab_edges(box_mpc_h: float, chi_max: float) -> np.ndarray:
    """Slab boundaries ``0, L, 2L, ...`` until the first one at or beyond ``chi_max`` (Mpc/h)."""
    n = max(1, int(np.ceil(chi_max / box_mpc_h - 1e-9)))
    return box_mpc_h * np.arange(n + 1, dtype=float)


def scale_factor_at(cosmo_params: dict, chi_mpc_h: np.ndarray) -> np.ndarray:
    """Scale factor at comoving distance ``chi`` (Mpc/h) for the simulation's cosmology (pyccl)."""
    import pyccl as ccl

    c = cosmology(cosmo_params["Omega_m"], cosmo_params["sigma8"])
    return np.asarray(ccl.scale_factor_of_chi(c, np.asarray(chi_mpc_h, float) / cosmo_params["h"]))


def step_schedule(a_start: float, a_snapshots: np.ndarray, max_dlna: float) -> np.ndarray:
    """Increasing scale factors from ``a_start`` through every snapshot, steps of at most ``max_dlna`` in ln a."""
    stops = np.unique(np.concatenate([[a_start], np.sort(np.asarray(a_snapshots, float))]))
    out = [stops[0]]
    for lo, hi in pairwise(stops):
        n = max(1, int(np.ceil(np.log(hi / lo) / max_dlna - 1e-9)))
        out.extend(np.exp(np.linspace(np.log(lo), np.log(hi), n + 1))[1:])
    return np.array(out)


# ---- halos: friends of friends and NFW restoration -------------------------------------------------


def friends_of_friends(positions: np.ndarray, box: float, linking_length: float) -> np.ndarray:
    """Friends-of-friends group labels of periodic particles (``[N, 3]`` in ``[0, box)``), 0..n_groups-1."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    n = len(positions)
    tree = cKDTree(np.mod(positions, box), boxsize=box)
    pairs = tree.query_pairs(linking_length, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs), dtype=bool), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def fof_groups(positions: np.ndarray, box: float, min_particles: int) -> list[np.ndarray]:
    """Member indices of the friends-of-friends groups (linking 0.2) of at least ``min_particles`` particles.

    ``positions`` come from a lattice of one particle per cell (``N = n³``). Only particles in cells of at
    least 3 times the mean density are linked: a group's members sit above 80 times it, and linking the
    rest (voids, sheets) is most of the cost.
    """
    n_side = round(len(positions) ** (1 / 3))
    cell = np.floor(positions / box * n_side).astype(np.int64) % n_side
    flat = (cell[:, 0] * n_side + cell[:, 1]) * n_side + cell[:, 2]
    dense = np.flatnonzero(np.bincount(flat, minlength=n_side**3)[flat] >= 3)
    if dense.size < min_particles:
        return []
    labels = friends_of_friends(positions[dense], box, FOF_LINKING * box / n_side)
    order = np.argsort(labels, kind="stable")
    counts = np.bincount(labels)
    starts = np.concatenate([[0], np.cumsum(counts)])
    return [dense[order[starts[g]:starts[g + 1]]] for g in np.flatnonzero(counts >= min_particles)]


def _nfw_enclosed(x: np.ndarray) -> np.ndarray:
    """NFW mass inside ``x = r/r_s``, in units of :math:`4\\pi\\rho_s r_s^3`."""
    return np.log1p(x) - x / (1.0 + x)


def nfw_radii(quantiles: np.ndarray, concentration: float) -> np.ndarray:
    """Radii (units of :math:`R_\\Delta`) enclosing the fractions ``quantiles`` of an NFW halo's :math:`M_\\Delta`."""
    x = np.concatenate([[0.0], np.geomspace(1e-5, 1.0, 2000)]) * concentration
    frac = _nfw_enclosed(x) / _nfw_enclosed(concentration)
    return np.interp(quantiles, frac, x) / concentration


def nfw_sharpen(
    positions: np.ndarray,
    box: float,
    particle_mass: float,
    a: float,
    cosmo_params: dict,
    *,
    min_particles: int = 20,
    concentration: str = "duffy08",
    groups: list[np.ndarray] | None = None,
) -> tuple[np.ndarray, dict]:
    r"""Move halo members onto NFW profiles (module docstring, step 5); returns new positions and counts.

    Args:
        positions: ``[N, 3]`` comoving Mpc/h in ``[0, box)``, periodic.
        box: box side, Mpc/h.
        particle_mass: Msun/h.
        a: scale factor of the snapshot.
        cosmo_params: the simulation cosmology (:func:`simulation_cosmology`).
        min_particles: smallest FoF group restored.
        concentration: a pyccl concentration-mass relation defined for ``200m``.
        groups: the halos' member indices (:func:`fof_groups`); found on ``positions`` when None.

    Each group's centre is found by shrinking spheres on its members (start: the members' periodic
    centre of mass, radius shrunk by 0.7 per step down to 10 members). :math:`R_{200m}` is the largest
    radius around it inside which the members' mean density is :math:`200\bar\rho_m`; members within it
    (:math:`N_{200}`, at least ``min_particles``) keep their directions and take, in order of radius, the
    radii that enclose the fractions :math:`(k+\tfrac12)/N_{200}` of an NFW halo of concentration
    :math:`c(M_{200m}, z)`.
    """
    from miu2net.sims.halos import pyccl_concentration

    if groups is None:
        groups = fof_groups(positions, box, min_particles)
    if not groups:
        return positions.copy(), {"n_groups": 0, "n_restored": 0, "mass_restored_fraction": 0.0}
    out = positions.copy()
    rho_mean = cosmo_params["Omega_m"] * RHO_CRIT_H2
    c_of_m = pyccl_concentration(concentration, "200m")
    ccl_cosmo = cosmology(cosmo_params["Omega_m"], cosmo_params["sigma8"])
    h = cosmo_params["h"]
    masses = []
    for members in groups:
        p = positions[members]
        ref = p[0]
        d = np.mod(p - ref + 0.5 * box, box) - 0.5 * box  # unwrapped about one member
        centre = d.mean(axis=0)
        radius = np.sqrt(((d - centre) ** 2).sum(axis=1)).max()
        while True:
            inside = ((d - centre) ** 2).sum(axis=1) < radius**2
            if inside.sum() < 10:
                break
            centre = d[inside].mean(axis=0)
            radius *= 0.7
        offset = d - centre
        r = np.sqrt((offset**2).sum(axis=1))
        rank = np.argsort(r)
        r_sorted = r[rank]
        enclosed = np.arange(1, len(r) + 1) * particle_mass
        density = enclosed / (4.0 / 3.0 * np.pi * np.maximum(r_sorted, 1e-6) ** 3)
        dense = np.flatnonzero(density >= DELTA_MEAN * rho_mean)
        if dense.size == 0:
            continue
        n200 = dense[-1] + 1
        if n200 < min_particles:
            continue
        m200 = n200 * particle_mass
        r200 = (3.0 * m200 / (4.0 * np.pi * DELTA_MEAN * rho_mean)) ** (1.0 / 3.0)
        conc = float(c_of_m(ccl_cosmo, m200 / h, a))
        new_r = nfw_radii((np.arange(n200) + 0.5) / n200, conc) * r200
        inner = rank[:n200]
        direction = offset[inner] / np.maximum(r[inner], 1e-9)[:, None]
        out[members[inner]] = ref + centre + direction * new_r[:, None]
        masses.append(m200)
    return np.mod(out, box), {"n_groups": len(groups), "n_restored": len(masses),
                              "mass_restored_fraction": float(np.sum(masses) / (particle_mass * len(positions)))}


# ---- PGD: potential gradient descent sharpening ---------------------------------------------------


@lru_cache(maxsize=4)
def _pgd_tools(n_mesh: int):
    """Jitted jax helpers on an ``n_mesh``³ mesh: the PGD displacement field and the CIC power spectrum."""
    import jax
    import jax.numpy as jnp
    from jaxpm.distributed import fft3d, ifft3d
    from jaxpm.kernels import cic_compensation, fftk, gradient_kernel, invlaplace_kernel
    from jaxpm.painting import cic_paint, cic_read

    mesh = (n_mesh,) * 3

    @jax.jit
    def displacement(x, kl, ks):
        delta_k = fft3d(cic_paint(jnp.zeros(mesh), x))
        kvec = fftk(delta_k)
        kk = sum(k**2 for k in kvec)
        safe = jnp.where(kk > 0, kk, 1.0)
        filt = jnp.where(kk > 0, jnp.exp(-(kl**2) / safe) * jnp.exp(-(kk**2) / ks**4), 0.0)
        pot_k = delta_k * invlaplace_kernel(kvec) * cic_compensation(kvec) * filt
        return jnp.stack([cic_read(ifft3d(-gradient_kernel(kvec, i) * pot_k), x) for i in range(3)], axis=-1)

    @jax.jit
    def power(x):
        rho = cic_paint(jnp.zeros(mesh), x)
        return jnp.abs(jnp.fft.rfftn(rho / rho.mean() - 1.0)) ** 2

    return displacement, power


def pgd_sharpen(positions: np.ndarray, box: float, n_mesh: int, a: float, cosmo_params: dict, *,
                k_long: float = 0.4, k_short: float = 6.0, k_fit: tuple[float, float] = (1.0, 2.5)
                ) -> tuple[np.ndarray, float]:
    r"""Potential gradient descent (Dai, Feng & Seljak 2018), its strength fitted to this snapshot.

    Particles move by :math:`\alpha\,\nabla\nabla^{-2}[\delta\, O_l O_s]`, the high-pass
    :math:`O_l = e^{-k_l^2/k^2}` and low-pass :math:`O_s = e^{-k^4/k_s^4}` filtered gravitational force
    (``k_long``, ``k_short`` in h/Mpc), which pulls mass into the halos a mesh leaves too shallow.
    :math:`\alpha` is chosen by bisection so that the particles' power in ``k_fit`` (h/Mpc, CIC window
    removed) matches pyccl's halofit at this redshift — a calibration against halofit, which was itself
    fitted to high-resolution N-body runs; below ``k_long`` nothing moves. Returns positions (Mpc/h) and
    :math:`\alpha` (0 when the mesh already holds the power).
    """
    import jax.numpy as jnp
    import pyccl as ccl

    displacement, power = _pgd_tools(n_mesh)
    cell = box / n_mesh
    x_cells = jnp.asarray(positions / cell, dtype=jnp.float32)
    shift = np.asarray(displacement(x_cells, k_long * cell, k_short * cell), dtype=np.float64) * cell
    kf = 2 * np.pi / box
    f = np.fft.fftfreq(n_mesh) * n_mesh
    fz = np.fft.rfftfreq(n_mesh) * n_mesh
    kk = kf * np.sqrt(f[:, None, None] ** 2 + f[None, :, None] ** 2 + fz[None, None, :] ** 2)
    window = (np.sinc(f / n_mesh)[:, None, None] * np.sinc(f / n_mesh)[None, :, None]
              * np.sinc(fz / n_mesh)[None, None, :]) ** 4
    band = (kk >= k_fit[0]) & (kk <= k_fit[1])
    c = cosmology(cosmo_params["Omega_m"], cosmo_params["sigma8"])
    h = cosmo_params["h"]
    target = np.mean(ccl.nonlin_matter_power(c, kk[band] * h, a) * h**3)

    def ratio(alpha):
        x = np.mod(positions + alpha * shift, box) / cell
        p = np.asarray(power(jnp.asarray(x, dtype=jnp.float32)))[band] / window[band] * box**3 / n_mesh**6
        return float(np.mean(p)) / target

    previous = ratio(0.0)
    if previous >= 1.0:
        return positions, 0.0
    lo, hi = 0.0, None
    for trial in np.geomspace(1e-3, 0.256, 9):  # the first crossing of 1 (too strong a pull overshoots)
        r = ratio(trial)
        if r >= 1.0:
            hi = trial
            break
        if r < previous:  # past the best strength without reaching halofit: keep the best
            return np.mod(positions + lo * shift, box), lo
        lo, previous = trial, r
    if hi is None:
        return np.mod(positions + lo * shift, box), lo
    for _ in range(5):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if ratio(mid) < 1.0 else (lo, mid)
    alpha = 0.5 * (lo + hi)
    return np.mod(positions + alpha * shift, box), alpha


# ---- projection ----------------------------------------------------------------------------------

AXES = ((1, 2), (2, 0), (0, 1))  # projection along x, y, z -> particle axes of (plane x, plane y)


def project_planes(positions: np.ndarray, box: float, n_pixels: int) -> np.ndarray:
    """Surface density contrast :math:`\\Sigma/\\bar\\Sigma` of the whole box along x, y, z: ``[3, n, n]`` ``[y, x]``."""
    from miu2net.sims.particles import cic_deposit

    scale = n_pixels / box
    weight = np.full(len(positions), n_pixels**2 / len(positions))
    return np.stack([cic_deposit(positions[:, ix] * scale, positions[:, iy] * scale, weight, n_pixels, periodic=True)
                     for ix, iy in AXES])


# ---- the particle-mesh run -------------------------------------------------------------------------


def _import_jax():
    try:
        import jax
        import jax.numpy as jnp
        import jax_cosmo as jc
        from jaxpm.pm import linear_field, lpt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise InputError(
            f"the N-body truth needs jax and jaxpm ({exc}); install them with: pip install jax jaxpm 'setuptools<81'"
        ) from exc
    return jax, jnp, jc, linear_field, lpt


def _jax_cosmology(jc, params: dict):
    # A fresh object per use: jax_cosmo caches tables on the object, and growth functions then fail
    # (KeyError 'h') on one that its power spectrum used first.
    return jc.Cosmology(Omega_c=params["Omega_m"] - params["Omega_b"], Omega_b=params["Omega_b"], h=params["h"],
                        n_s=params["n_s"], sigma8=params["sigma8"], Omega_k=0.0, w0=-1.0, wa=0.0)


def linear_power_table(params: dict) -> tuple[np.ndarray, np.ndarray]:
    """pyccl's linear matter power at :math:`a=1`: ``k`` (h/Mpc) and :math:`P` ((Mpc/h)³), 10⁻⁴ to 10² h/Mpc."""
    import pyccl as ccl

    c = cosmology(params["Omega_m"], params["sigma8"])
    k = np.geomspace(1e-4, 1e2, 600)
    return k, ccl.linear_matter_power(c, k * params["h"], 1.0) * params["h"] ** 3


def _jax_key(jax, seed: int):
    """The JAX random key of a simulation seed (seeds equal modulo 2^31 share it: the pools check that)."""
    return jax.random.PRNGKey(int(seed) % (2**31))


def _fixed_amplitude_field(jax, jnp, mesh, box, pk, seed):
    """A linear density field at a=1 whose Fourier modes all have modulus sqrt(P(k)) and random phases."""
    n3 = mesh[0] * mesh[1] * mesh[2]
    white = jax.random.normal(_jax_key(jax, seed), mesh)
    modes = jnp.fft.rfftn(white)
    modes = modes / jnp.maximum(jnp.abs(modes), 1e-20) * jnp.sqrt(n3)  # E|FFT(white)|^2 = N^3, fixed
    kx = [jnp.fft.fftfreq(m) * m * 2 * jnp.pi / box for m in mesh[:2]] + [jnp.fft.rfftfreq(mesh[2]) * mesh[2] * 2 * jnp.pi / box]
    kk = jnp.sqrt(kx[0][:, None, None] ** 2 + kx[1][None, :, None] ** 2 + kx[2][None, None, :] ** 2)
    amplitude = jnp.sqrt(pk(kk) * n3 / box**3).at[0, 0, 0].set(0.0)
    return jnp.fft.irfftn(modes * amplitude, s=mesh)


def run_particle_mesh(params: dict, *, box: float, n_mesh: int, seed: int, a_snapshots: np.ndarray,
                      a_start: float, max_dlna: float, on_snapshot, fixed_amplitude: bool = True) -> dict:
    """Run the PM simulation; ``on_snapshot(index, a, positions_mpc_h)`` is called at each snapshot a.

    ``fixed_amplitude`` draws the initial modes with modulus :math:`\\sqrt{P(k)}` and random phases
    (Angulo & Pontzen 2016): a small box has few large-scale modes, and their chance amplitudes would
    otherwise set how much the whole box collapses (measured: one 64 Mpc/h realisation with its largest
    modes 35 % low in power came out 45 % below halofit at every k).

    Returns run statistics (steps, seconds).
    """
    jax, jnp, jc, linear_field, lpt = _import_jax()
    mesh = (n_mesh,) * 3
    k_tab, p_tab = linear_power_table(params)
    k_j, p_j = jnp.asarray(k_tab), jnp.asarray(p_tab)

    def pk(kk):
        return jnp.interp(kk.reshape(-1), k_j, p_j).reshape(kk.shape)

    start = time.perf_counter()
    if fixed_amplitude:
        ic = _fixed_amplitude_field(jax, jnp, mesh, box, pk, seed)
    else:
        ic = linear_field(mesh, [box] * 3, pk, seed=_jax_key(jax, seed))
    dx, p, _ = lpt(_jax_cosmology(jc, params), ic, a=a_start, order=2)
    grid = jnp.stack(jnp.meshgrid(*[jnp.arange(n_mesh, dtype=jnp.float32)] * 3, indexing="ij"), axis=-1)
    pos = (grid + dx).reshape(-1, 3)
    vel = p.reshape(-1, 3)
    del ic, dx, p, grid
    cosmo = _jax_cosmology(jc, params)
    omega_m = params["Omega_m"]

    from jaxpm.distributed import fft3d, ifft3d
    from jaxpm.kernels import cic_compensation, fftk, gradient_kernel, invlaplace_kernel
    from jaxpm.painting import cic_paint, cic_read

    @jax.jit
    def force(x):
        # jaxpm's pm_forces, with the CIC window of the painted density deconvolved (as FastPM does):
        # without it the force of modes at a fifth of the mesh Nyquist is already ~7 % weak
        delta_k = fft3d(cic_paint(jnp.zeros(mesh), x))
        kvec = fftk(delta_k)
        pot_k = delta_k * invlaplace_kernel(kvec) * cic_compensation(kvec)
        return jnp.stack([cic_read(ifft3d(-gradient_kernel(kvec, i) * pot_k), x) for i in range(3)],
                         axis=-1) * 1.5 * omega_m

    from jaxpm.growth import Gf, dGfa, growth_factor

    schedule = step_schedule(a_start, a_snapshots, max_dlna)
    middles = np.sqrt(schedule[:-1] * schedule[1:])

    def table(fn, a):  # a fresh cosmology object per table (module note on jax_cosmo)
        return np.asarray(fn(_jax_cosmology(jc, params), jnp.asarray(a)), dtype=np.float64)

    growth, g_p, dg_p = (table(f, schedule) for f in (growth_factor, Gf, dGfa))
    g_p_m = table(Gf, middles)
    e_a = np.sqrt(np.asarray(jc.background.Esqr(cosmo, jnp.asarray(schedule)), dtype=np.float64))
    snap_index = {float(a): i for i, a in enumerate(a_snapshots)}
    acc = force(pos)
    for i, (a1, a2) in enumerate(pairwise(schedule)):
        # FastPM kick-drift-kick (Feng et al. 2016): factors from the linear growth, exact in the linear regime
        vel = vel + acc * ((g_p_m[i] - g_p[i]) / (a1**2 * e_a[i] * dg_p[i]))
        pos = pos + vel * ((growth[i + 1] - growth[i]) / g_p_m[i])
        acc = force(pos)
        vel = vel + acc * ((g_p[i + 1] - g_p_m[i]) / (a2**2 * e_a[i + 1] * dg_p[i + 1]))
        hit = [j for a, j in snap_index.items() if abs(a - a2) < 1e-12]
        if hit:
            x = np.mod(np.asarray(pos, dtype=np.float64), n_mesh) * (box / n_mesh)
            for j in hit:
                on_snapshot(j, float(a2), x)
    return {"pm_steps": int(len(schedule) - 1), "pm_seconds": time.perf_counter() - start}


def simulate_planes(nbody, seed: int, chi_max: float) -> PlaneSet:
    """One simulation's lens planes out to ``chi_max`` (Mpc/h); ``nbody`` is a :class:`miu2net.config.NBodyConfig`."""
    start = time.perf_counter()
    params = simulation_cosmology(seed, nbody.cosmology_spread)
    box, n = float(nbody.box_mpc_h), int(nbody.n_mesh)
    edges = slab_edges(box, chi_max)
    n_slab = len(edges) - 1
    per = int(nbody.slabs_per_snapshot)
    slab_snapshot = np.arange(n_slab) // per
    n_snap = int(slab_snapshot[-1]) + 1
    chi_snap = np.array([0.5 * (edges[i * per] + edges[min((i + 1) * per, n_slab)]) for i in range(n_snap)])
    a_snap = scale_factor_at(params, chi_snap)
    if a_snap.min() <= nbody.a_start:
        raise InputError(f"the farthest lens plane (a = {a_snap.min():.3f}) lies before the simulation starts "
                         f"(a_start = {nbody.a_start}); lower nbody.a_start or the source redshift")
    particle_mass = params["Omega_m"] * RHO_CRIT_H2 * box**3 / n**3
    planes = np.zeros((n_snap, 3, nbody.plane_pixels, nbody.plane_pixels), dtype=np.float16)
    restored: list[dict] = [{}] * n_snap
    alphas = [0.0] * n_snap
    plane_seconds = [0.0]
    order = np.argsort(a_snap)  # the run goes forward in time: the farthest snapshot first

    def on_snapshot(i, a, x):
        snap = int(order[i])
        t = time.perf_counter()
        groups = fof_groups(x, box, nbody.min_halo_particles) if nbody.restore == "nfw" else None
        if nbody.pgd:  # after the halo finder: PGD's denser cores would multiply the linked pairs
            x, alphas[snap] = pgd_sharpen(x, box, n, a, params)
        if nbody.restore == "nfw":
            x, restored[snap] = nfw_sharpen(x, box, particle_mass, a, params,
                                            min_particles=nbody.min_halo_particles, groups=groups)
        planes[snap] = project_planes(x, box, nbody.plane_pixels).astype(np.float16)
        plane_seconds[0] += time.perf_counter() - t
        log.debug("snapshot %d/%d at a = %.3f done", i + 1, n_snap, a)

    stats = run_particle_mesh(params, box=box, n_mesh=n, seed=seed, a_snapshots=a_snap[order],
                              a_start=nbody.a_start, max_dlna=nbody.max_dlna, on_snapshot=on_snapshot,
                              fixed_amplitude=nbody.fixed_amplitude)
    import jax
    import jaxpm

    info = {**stats, "planes_seconds": plane_seconds[0], "seconds": time.perf_counter() - start,
            "jax": jax.__version__, "jaxpm": getattr(jaxpm, "__version__", "?"), "platform": jax.default_backend(),
            "particle_mass": particle_mass, "pgd_alpha": alphas,
            "halos_restored": [r.get("n_restored", 0) for r in restored],
            "mass_restored_fraction": [r.get("mass_restored_fraction", 0.0) for r in restored]}
    log.info("N-body simulation %d: %d slabs from %d snapshots, %.0f s", seed, n_slab, n_snap, info["seconds"])
    return PlaneSet(planes=planes, chi_edges=edges, slab_snapshot=slab_snapshot, a_slab=a_snap[slab_snapshot],
                    box_mpc_h=box, cosmology=params, seed=int(seed), info=info)
