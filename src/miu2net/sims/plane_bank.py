"""The plane bank: each N-body simulation's lens planes written once (Zarr), read by every map drawn from it.

Layout: ``<bank>/<key>/sim-<seed>.zarr``, where ``key`` names the settings that shape the planes (box,
mesh, plane pixels, start, step, restoration, farthest source redshift) so that a change never reuses stale
planes. A simulation's store holds ``planes`` ``[n_snapshot, 3, n, n]`` float16 (chunk: one plane) and its
``chi_edges``, ``slab_snapshot``, ``a_slab``, cosmology and run statistics as attributes. It is written to a temporary
folder beside its final name and renamed into place when complete, so a crash leaves no partial store
and two processes racing on one simulation both end with one good copy.

The bank lives outside git: ``sim.nbody.bank``, else ``$MIU2NET_NBODY_BANK``, else
``~/.cache/miu2net/nbody`` (``$XDG_CACHE_HOME`` honoured). Simulations run one per Dask task
(:func:`ensure_simulations`, any scheduler: threads, processes, synchronous or a ``tcp://`` cluster).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from functools import lru_cache
from pathlib import Path

import numpy as np

from miu2net.errors import InputError
from miu2net.sims.nbody import PlaneSet, simulate_planes

log = logging.getLogger(__name__)

BANK_FORMAT = 2
#: Seed-stream codes of the two simulation pools.
POOL_CODES = {"train": 1001, "test": 2002}


def bank_root(configured: str | None = None) -> Path:
    """The bank folder (module docstring)."""
    if configured:
        return Path(configured).expanduser()
    env = os.environ.get("MIU2NET_NBODY_BANK")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "miu2net" / "nbody"


def bank_key(nbody, z_max: float) -> str:
    """A short hash of the settings that shape a simulation's planes, and the farthest source redshift."""
    shaping = {k: getattr(nbody, k) for k in ("box_mpc_h", "n_mesh", "plane_pixels", "fixed_amplitude", "slabs_per_snapshot", "a_start",
                                              "max_dlna", "pgd",
                                              "restore", "min_halo_particles", "cosmology_spread")}
    shaping["z_max"] = round(float(z_max), 4)
    shaping["format"] = BANK_FORMAT
    digest = hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:12]
    return f"L{nbody.box_mpc_h:g}-N{nbody.n_mesh}-P{nbody.plane_pixels}-z{z_max:g}-{digest}"


def simulation_seeds(base_seed: int, pool: str, n: int) -> list[int]:
    """Seeds of the ``n`` simulations of ``pool`` (``train`` or ``test``: disjoint streams)."""
    if pool not in POOL_CODES:
        raise InputError(f"unknown simulation pool {pool!r}; choose train or test")
    seeds = [int(np.random.SeedSequence([int(base_seed), POOL_CODES[pool], i]).generate_state(1, np.uint32)[0])
             for i in range(n)]
    if len({s % 2**31 for s in seeds}) != n:  # the initial conditions' key is the seed modulo 2^31
        raise RuntimeError(f"seed collision inside the {pool} simulation pool; change sim.nbody.seed")
    return seeds


def pool_seeds(base_seed: int, n_train: int, n_test: int) -> dict[str, list[int]]:
    """Both pools' seeds, checked disjoint (a test simulation is never a training one)."""
    pools = {"train": simulation_seeds(base_seed, "train", n_train), "test": simulation_seeds(base_seed, "test", n_test)}
    if {s % 2**31 for s in pools["train"]} & {s % 2**31 for s in pools["test"]}:
        raise RuntimeError("seed collision between the train and test simulation pools; change sim.nbody.seed")
    return pools


def simulation_path(root: Path, key: str, seed: int) -> Path:
    return Path(root) / key / f"sim-{int(seed)}.zarr"


def write_planes(path: Path, planes: PlaneSet) -> Path:
    """Write a simulation's planes atomically (temporary folder, then rename); returns ``path``."""
    import zarr

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex}")
    if tmp.exists():
        shutil.rmtree(tmp)
    group = zarr.open_group(str(tmp), mode="w")
    n = planes.planes.shape[-1]
    arr = group.create_array("planes", shape=planes.planes.shape, dtype="float16", chunks=(1, 1, n, n))
    arr[...] = planes.planes
    info = {k: (np.asarray(v).tolist() if isinstance(v, np.ndarray) else v) for k, v in planes.info.items()}
    group.attrs.update({
        "format": BANK_FORMAT, "seed": planes.seed, "box_mpc_h": planes.box_mpc_h, "cosmology": planes.cosmology,
        "chi_edges": planes.chi_edges.tolist(), "slab_snapshot": planes.slab_snapshot.tolist(), "a_slab": planes.a_slab.tolist(), "info": info,
    })
    try:
        os.rename(tmp, path)  # atomic; fails when the target exists
    except OSError:
        if not path.exists():
            raise
        shutil.rmtree(tmp)  # another process finished the same simulation first: keep its copy
    return path


def read_planes(path: str | Path) -> PlaneSet:
    """Read a simulation's planes (all into memory, float16)."""
    import zarr

    path = Path(path)
    try:
        group = zarr.open_group(str(path), mode="r")
        attrs = dict(group.attrs)
        planes = np.asarray(group["planes"][...])
    except Exception as exc:  # any unreadable store gets one clear message
        raise InputError(f"cannot read the lens planes at {path}: {exc}; delete the folder to re-simulate") from exc
    if attrs.get("format") != BANK_FORMAT:
        raise InputError(f"{path} holds plane-bank format {attrs.get('format')}, expected {BANK_FORMAT}; "
                         "delete it to re-simulate")
    if not np.all(np.isfinite(planes)):
        raise InputError(f"the lens planes at {path} hold non-finite values; delete the folder to re-simulate")
    return PlaneSet(planes=planes, chi_edges=np.asarray(attrs["chi_edges"]),
                    slab_snapshot=np.asarray(attrs["slab_snapshot"], dtype=int), a_slab=np.asarray(attrs["a_slab"]),
                    box_mpc_h=float(attrs["box_mpc_h"]), cosmology=dict(attrs["cosmology"]), seed=int(attrs["seed"]),
                    info=dict(attrs.get("info", {})))


def deconvolved(planes: np.ndarray, max_gain: float = 4.0) -> np.ndarray:
    """Planes (float32) with the windows of the CIC deposit and of the bilinear read divided out.

    Both windows are :math:`\\mathrm{sinc}^2(f_x)\\,\\mathrm{sinc}^2(f_y)` in amplitude (f in cycles per cell);
    their product is divided out, the gain capped at ``max_gain`` (near the plane's Nyquist, where the
    planes hold mostly particle noise). Without it the maps lose 10 % of their power at ell = 1e4 and
    half near the 0.41' Nyquist at the distance where lensing peaks.
    """
    n = planes.shape[-1]
    f = np.fft.fftfreq(n)
    fr = np.fft.rfftfreq(n)
    window = (np.sinc(f)[:, None] * np.sinc(fr)[None, :]) ** 4
    gain = np.minimum(1.0 / window, max_gain).astype(np.float32)
    out = np.empty(planes.shape, dtype=np.float32)
    for index in np.ndindex(planes.shape[:-2]):
        plane = planes[index].astype(np.float32)
        out[index] = np.fft.irfft2(np.fft.rfft2(plane) * gain, s=plane.shape)
    return out


@lru_cache(maxsize=4)
def cached_planes(path: str) -> PlaneSet:
    """:func:`read_planes`, :func:`deconvolved` (float32), kept for the next maps drawn in this process
    (four simulations at most, about 1 GB for the default settings)."""
    p = read_planes(path)
    return PlaneSet(planes=deconvolved(p.planes), chi_edges=p.chi_edges, slab_snapshot=p.slab_snapshot,
                    a_slab=p.a_slab, box_mpc_h=p.box_mpc_h, cosmology=p.cosmology, seed=p.seed, info=p.info)


def chi_max_for(cosmo_params: dict, z_max: float) -> float:
    """Comoving distance (Mpc/h) to ``z_max`` in a simulation's cosmology."""
    import pyccl as ccl

    from miu2net.physics.cosmology import cosmology

    c = cosmology(cosmo_params["Omega_m"], cosmo_params["sigma8"])
    return float(ccl.comoving_radial_distance(c, 1.0 / (1.0 + z_max))) * cosmo_params["h"]


def run_simulation(nbody_json: str, seed: int, z_max: float, path: str) -> str:
    """Simulate one bank entry and write it (a Dask task); returns the path."""
    from miu2net.config import NBodyConfig
    from miu2net.sims.nbody import simulation_cosmology

    nbody = NBodyConfig.model_validate_json(nbody_json)
    chi_max = chi_max_for(simulation_cosmology(seed, nbody.cosmology_spread), z_max)
    planes = simulate_planes(nbody, seed, chi_max)
    return str(write_planes(Path(path), planes))


def ensure_simulations(nbody, z_max: float, seeds: list[int], *, scheduler: str | None = None,
                       progress: bool = False) -> list[Path]:
    """The bank paths of ``seeds``, simulating (one per Dask task) those not yet in the bank."""
    root = bank_root(nbody.bank)
    key = bank_key(nbody, z_max)
    paths = [simulation_path(root, key, s) for s in seeds]
    missing = [(s, p) for s, p in zip(seeds, paths) if not p.exists()]
    if not missing:
        return paths
    log.info("simulating %d N-body run(s) into %s", len(missing), root / key)
    nbody_json = nbody.model_dump_json()
    if scheduler in (None, "synchronous") or len(missing) == 1:
        for s, p in missing:
            run_simulation(nbody_json, s, z_max, str(p))
        return paths
    import dask

    tasks = [dask.delayed(run_simulation)(nbody_json, s, z_max, str(p)) for s, p in missing]
    if scheduler.startswith("tcp://"):
        from distributed import Client

        with Client(scheduler) as client:
            client.gather(client.compute(tasks))
    else:
        dask.compute(*tasks, scheduler=scheduler)
    return paths
