r"""Training, validation and test sets as a Zarr (v3) store, written in parallel with Dask, read lazily.

Layout::

    data.zarr/                      attrs["miu2net"]: format, version, config (JSON), source, splits,
                                    fields, seed rule, run id, creation time, layout_complete
      train/  val/  test/           attrs["seeds"]: the sample seeds of the split
        kappa gamma1 gamma2 g1_noiseless g2_noiseless g1 g2 mask noise
                                    float32 [n, ny, nx], one sample per chunk (see simulate.py)
        seed (int64), n_halos (int32), masked_fraction (float32), done (bool),
        simulation (int64: the N-body bank seed, -1 otherwise), omega_m, sigma8 (float32: the
        map's cosmology)                                                          [n]

Splits. ``train`` and ``val`` hold ``sim.n_samples`` samples split ``sim.train_val_ratio`` : 1 (5:1);
``test`` holds ``sim.n_test`` held-out samples. The seed of sample ``i`` of a split is drawn from
``numpy.random.SeedSequence([sim.seed, split_code, i])`` (codes train 0, val 1, test 2), 63 bits, so the
test seeds are their own stream whatever the number of training samples, and the splits are checked
to share no seed.

Resuming. Each sample is written by one task: its maps, then its scalars, then ``done[i] = True``, each
flag in its own chunk, so parallel writers never touch the same chunk. A killed run leaves at worst some
samples without their flag (and the ``*.partial`` files of writes cut short, deleted on resuming); a rerun regenerates exactly those (a sample is a pure function of config
and seed, so the result is byte-identical to an uninterrupted run). A rerun with a different
configuration or source is refused. A first run that stops before any sample is finished (an unreachable
scheduler, Ctrl-C) removes the store it laid out. Every chunk of a finished sample is written (even one
equal to the fill value), so reading refuses a missing chunk, as it does a corrupt one (InputError),
rather than returning a map of zeros; a store without one of its splits or arrays is refused too.

Parallelism. By default a ``dask.distributed.LocalCluster`` of worker processes (one thread each); or an
existing cluster by scheduler address (its workers must see the store's path); or ``"sync"`` to run in
this process without Dask. Workers write to the store directly; only counts travel back.

Own convergence maps (``kappa_from``): every FITS (first image HDU holding data, or one named KAPPA)
or ``.npy`` file of a folder is a map (a 3-D array is a stack of maps), in sorted file order. Its pixel
scale comes from the option ``kappa_pixel_arcmin`` when given, else from the FITS keyword ``PIXSCALE``
(arcmin) or a celestial WCS. Maps are resampled to the survey's pixel (block averaging by an integer
factor, then linear interpolation with ``scipy.ndimage.zoom`` for the remainder), their shear is
computed on the whole resampled map with zero padding, and the central ``map_size`` square is cut; a
map smaller than that is zero-padded and the padding masked. Then the same survey effects apply. The
maps are split in file order: the first ones train and val (5:1), the last ``n_test / (n_samples +
n_test)`` of them test.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from miu2net import __version__
from miu2net.config import Config
from miu2net.errors import InputError
from miu2net.io.fits import pixel_arcmin_of_hdu
from miu2net.sims.fields import cut_center
from miu2net.sims.simulate import MAP_FIELDS, apply_survey, simulate_sample_with_info

FORMAT_VERSION = 1
SPLITS = ("train", "val", "test")
SPLIT_CODES = {"train": 0, "val": 1, "test": 2}
SCALARS = {"seed": "int64", "n_halos": "int32", "masked_fraction": "float32", "done": "bool",
           "simulation": "int64", "omega_m": "float32", "sigma8": "float32"}
SEED_RULE = "seed of sample i of a split = SeedSequence([sim.seed, code, i]).generate_state(2, uint64)[0] >> 1; codes train 0, val 1, test 2"
KAPPA_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".npy")


# ---- seeds and sizes ------------------------------------------------------------------------------


def split_sizes(config: Config) -> dict[str, int]:
    """Samples per split: ``train`` and ``val`` from ``sim.n_samples`` (5:1), ``test`` = ``sim.n_test``."""
    return {"train": config.sim.n_train, "val": config.sim.n_val, "test": config.sim.n_test}


def sample_seeds(config: Config, split: str, n: int | None = None) -> np.ndarray:
    """The ``n`` (default: the split's size) sample seeds of ``split`` (int64, >= 0); see the module docstring."""
    if split not in SPLIT_CODES:
        raise InputError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    n = split_sizes(config)[split] if n is None else n
    code = SPLIT_CODES[split]
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        state = np.random.SeedSequence([config.sim.seed, code, i]).generate_state(1, np.uint64)[0]
        out[i] = int(state >> np.uint64(1))
    return out


def all_seeds(config: Config) -> dict[str, np.ndarray]:
    """Seeds of every split, checked pairwise disjoint."""
    seeds = {s: sample_seeds(config, s) for s in SPLITS}
    for a in SPLITS:
        for b in SPLITS:
            if a < b and np.intersect1d(seeds[a], seeds[b]).size:
                raise RuntimeError(f"seed collision between splits {a} and {b}; change sim.seed")
    return seeds


# ---- own convergence maps -----------------------------------------------------------------------


@dataclass(frozen=True)
class KappaInput:
    """One user convergence map: a file, a plane of it (-1 for a 2-D array), and its pixel scale."""

    path: str
    plane: int
    pixel_arcmin: float


def _fits_image_hdu(hdul) -> Any:
    for hdu in hdul:
        if hdu.name.upper() in ("KAPPA", "KAPPA_E") and hdu.data is not None:
            return hdu
    for hdu in hdul:
        if getattr(hdu, "is_image", False) and hdu.data is not None and hdu.data.ndim in (2, 3):
            return hdu
    return None


def _pixel_arcmin(hdu: Any, primary: Any, path: Path) -> float:
    try:
        return pixel_arcmin_of_hdu(hdu, primary, str(path))
    except InputError as exc:
        raise InputError(f"{exc}; or pass --kappa-pixel-arcmin") from None


def list_kappa_inputs(directory: str | Path, *, pixel_arcmin: float | None = None) -> list[KappaInput]:
    """The convergence maps of a folder (FITS or ``.npy``, sorted by name), with their pixel scales.

    Raises :class:`InputError` for a missing folder, no usable file, an unreadable file, or a map
    without a pixel scale (give ``pixel_arcmin``).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"--kappa-from {directory}: no such directory")
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.name.lower().endswith(KAPPA_SUFFIXES))
    if not files:
        raise InputError(f"--kappa-from {directory}: no FITS or .npy convergence maps found")
    if pixel_arcmin is not None and not pixel_arcmin > 0:
        raise InputError(f"the input pixel scale must be > 0 arcmin; got {pixel_arcmin}")
    out: list[KappaInput] = []
    for path in files:
        if path.suffix.lower() == ".npy":
            try:
                shape = np.load(path, mmap_mode="r", allow_pickle=False).shape
            except Exception as exc:
                raise InputError(f"{path}: not a readable .npy file ({exc})") from None
            pix = pixel_arcmin
        else:
            from astropy.io import fits

            try:
                with fits.open(path, memmap=False) as hdul:
                    hdu = _fits_image_hdu(hdul)
                    if hdu is None:
                        raise InputError(f"{path}: no 2-D or 3-D image HDU")
                    shape = hdu.data.shape
                    pix = pixel_arcmin if pixel_arcmin is not None else _pixel_arcmin(hdu, hdul[0], path)
            except InputError:
                raise
            except Exception as exc:
                raise InputError(f"{path}: not a readable FITS file ({exc})") from None
        if pix is None:
            raise InputError(f"{path}: no pixel scale (no PIXSCALE keyword or celestial WCS); pass --kappa-pixel-arcmin")
        if len(shape) == 2:
            out.append(KappaInput(str(path.resolve()), -1, float(pix)))
        elif len(shape) == 3:
            out.extend(KappaInput(str(path.resolve()), k, float(pix)) for k in range(shape[0]))
        else:
            raise InputError(f"{path}: expected a 2-D map or a 3-D stack of maps; got shape {shape}")
    return out


def read_kappa_input(item: KappaInput) -> np.ndarray:
    """The map of one :class:`KappaInput` as float64 ``[y, x]``."""
    if item.path.lower().endswith(".npy"):
        data = np.load(item.path, mmap_mode="r", allow_pickle=False)
    else:
        from astropy.io import fits

        with fits.open(item.path, memmap=False) as hdul:
            data = _fits_image_hdu(hdul).data
    data = data if item.plane < 0 else data[item.plane]
    return np.array(data, dtype=np.float64)


def resample_kappa(kappa: np.ndarray, in_pixel_arcmin: float, out_pixel_arcmin: float) -> np.ndarray:
    """Resample a map to another pixel scale, keeping its angular extent (pixel means where coarsening).

    Coarsening by an integer factor is a block average (exact pixel integration); the remaining
    non-integer factor (or any refinement) is linear interpolation (``scipy.ndimage.zoom``, order 1,
    ``grid_mode=True`` so pixel edges align).
    """
    from scipy import ndimage

    kappa = np.asarray(kappa, dtype=np.float64)
    ratio = out_pixel_arcmin / in_pixel_arcmin
    k = int(np.floor(ratio + 1e-6))
    if k >= 2:
        ny, nx = (kappa.shape[0] // k) * k, (kappa.shape[1] // k) * k
        y0, x0 = (kappa.shape[0] - ny) // 2, (kappa.shape[1] - nx) // 2
        kappa = kappa[y0 : y0 + ny, x0 : x0 + nx].reshape(ny // k, k, nx // k, k).mean(axis=(1, 3))
        ratio /= k
    if abs(ratio - 1.0) > 1e-6:
        kappa = ndimage.zoom(kappa, 1.0 / ratio, order=1, grid_mode=True, mode="nearest")
    return kappa


def prepare_user_kappa(kappa: np.ndarray, in_pixel_arcmin: float, config: Config) -> tuple[np.ndarray, np.ndarray]:
    """A user map on the survey's pixel, at least ``map_size`` per side, and its 1/0 map of real data.

    Non-finite pixels are set to 0 and marked as no data; a map smaller than ``map_size`` is zero-padded
    (centred) and the padding marked as no data.
    """
    size = config.survey.map_size
    kappa = resample_kappa(kappa, in_pixel_arcmin, config.survey.pixel_arcmin)
    valid = np.isfinite(kappa)
    kappa = np.where(valid, kappa, 0.0)
    pad_y, pad_x = max(size - kappa.shape[0], 0), max(size - kappa.shape[1], 0)
    if pad_y or pad_x:
        widths = ((pad_y // 2, pad_y - pad_y // 2), (pad_x // 2, pad_x - pad_x // 2))
        kappa = np.pad(kappa, widths)
        valid = np.pad(valid, widths)
    return kappa, valid.astype(np.float64)


def user_sample(item: KappaInput, config: Config, seed: int) -> tuple[dict[str, np.ndarray], dict]:
    """A sample from a user convergence map: the survey effects of ``config`` with ``seed``."""
    kappa, valid = prepare_user_kappa(read_kappa_input(item), item.pixel_arcmin, config)
    size = (config.survey.map_size,) * 2
    maps = apply_survey(kappa, config, seed, periodic=False, observed=cut_center(valid, size))
    return maps, {"n_halos": 0, "masked_fraction": float(1.0 - maps["mask"].mean())}


def _kappa_from_config(config: Config, n_inputs: int) -> Config:
    """The configuration recorded for a store of ``n_inputs`` user maps (sizes set from the inputs)."""
    total = config.sim.n_samples + config.sim.n_test
    n_test = int(round(n_inputs * config.sim.n_test / total)) if total > 0 else 0
    return config.updated(sim={"n_samples": n_inputs - n_test, "n_test": n_test})


# ---- the store ----------------------------------------------------------------------------------


def _diff(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(set(a) | set(b))
        return [d for k in keys for d in _diff(a.get(k), b.get(k), f"{prefix}.{k}" if prefix else k)]
    return [] if a == b else [f"{prefix}: {a!r} (store) vs {b!r} (now)"]


def _create_layout(path: Path, config: Config, source: dict) -> zarr.Group:
    size = config.survey.map_size
    sizes = split_sizes(config)
    seeds = all_seeds(config)
    meta = {
        "format": FORMAT_VERSION,
        "version": __version__,
        "config": config.to_dict(),
        "source": source,
        "splits": sizes,
        "fields": list(MAP_FIELDS),
        "seed_rule": SEED_RULE,
        "run_id": uuid.uuid4().hex,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "layout_complete": False,
    }
    root = zarr.open_group(str(path), mode="w", zarr_format=3, attributes={"miu2net": meta})
    for split in SPLITS:
        n = sizes[split]
        group = root.create_group(split, attributes={"seeds": [int(s) for s in seeds[split]]})
        for name in MAP_FIELDS:
            group.create_array(name, shape=(n, size, size), chunks=(1, size, size), dtype="float32", fill_value=0.0)
        for name, dtype in SCALARS.items():
            chunks = (max(n, 1),) if name == "seed" else (1,)
            group.create_array(name, shape=(n,), chunks=chunks, dtype=dtype, fill_value=False if dtype == "bool" else 0)
        if n:
            group["seed"][:] = seeds[split]
    root.attrs["miu2net"] = {**meta, "layout_complete": True}
    return root


def _remove_partial_writes(path: Path) -> None:
    """Delete the ``*.partial`` files a killed writer leaves (Zarr's LocalStore writes each chunk to one and
    renames it into place), so a resumed store holds exactly the files of an uninterrupted run."""
    for debris in path.rglob("*.partial"):
        if debris.is_file():
            debris.unlink(missing_ok=True)


def _open_for_writing(path: Path, config: Config, source: dict) -> zarr.Group:
    """Open the store to resume it (same config and source) or create it; refuse anything else."""
    if path.exists() and not path.is_dir():
        raise InputError(f"{path}: exists and is not a directory (a Zarr store)")
    if path.is_dir() and any(path.iterdir()):
        try:
            root = zarr.open_group(str(path), mode="r+")
            meta = dict(root.attrs).get("miu2net")
        except Exception:
            meta = None
        if meta is None:
            raise InputError(f"{path}: exists and is not a miu2net dataset; choose another --out")
        if not meta.get("layout_complete"):
            return _create_layout(path, config, source)  # killed while laying out: nothing was generated
        differences = _diff(meta.get("config"), config.to_dict()) + _diff(meta.get("source"), source)
        if differences:
            raise InputError(
                f"{path}: was made with a different configuration; refusing to resume into it. Differences:\n  "
                + "\n  ".join(differences[:20])
                + "\nUse a new --out, or the original options."
            )
        _remove_partial_writes(path)
        return root
    return _create_layout(path, config, source)


def _read_flags(array: zarr.Array) -> np.ndarray:
    """``done`` flags; a flag chunk that cannot be read (a write cut short) counts as not done."""
    try:
        return np.asarray(array[:], dtype=bool)
    except Exception:
        out = np.zeros(array.shape[0], dtype=bool)
        for i in range(array.shape[0]):
            try:
                out[i] = bool(array[i])
            except Exception:
                out[i] = False
        return out


def completion(path: str | Path) -> dict[str, tuple[int, int]]:
    """``{split: (done, total)}`` of a store."""
    root = _open_read(Path(path))
    return {s: (int(_read_flags(root[s]["done"]).sum()), int(root[s]["done"].shape[0])) for s in SPLITS}


# ---- workers ------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _arrays(path: str, run_id: str) -> dict[str, dict[str, zarr.Array]]:
    # Every chunk is written, even one equal to the fill value: a finished sample then has all its chunks,
    # and a missing one is damage (SimDataset refuses it) rather than a map of zeros.
    root = zarr.open_group(path, mode="r+")
    return {s: {name: root[s][name].with_config({"write_empty_chunks": True}) for name in (*MAP_FIELDS, *SCALARS)}
            for s in SPLITS}


@lru_cache(maxsize=4)
def _config(config_json: str) -> Config:
    return Config.model_validate_json(config_json)


def generate_items(path: str, run_id: str, config_json: str, items: list[tuple]) -> int:
    """Generate and write samples ``(split, index, seed, kappa_input_or_None)``; returns how many.

    Writes each sample's maps and scalars, then its ``done`` flag (see the module docstring). Runs in a
    Dask worker or in this process.
    """
    from miu2net.physics.cosmology import PLANCK18

    config = _config(config_json)
    arrays = _arrays(path, run_id)
    for split, index, seed, item in items:
        if item is None:
            maps, info = simulate_sample_with_info(config, int(seed), split)
        else:
            maps, info = user_sample(KappaInput(*item), config, int(seed))
        out = arrays[split]
        for name in MAP_FIELDS:
            out[name][index] = maps[name]
        out["n_halos"][index] = info["n_halos"]
        out["masked_fraction"][index] = info["masked_fraction"]
        out["simulation"][index] = info.get("simulation", -1)
        out["omega_m"][index] = info.get("omega_m", PLANCK18["Omega_c"] + PLANCK18["Omega_b"])
        out["sigma8"][index] = info.get("sigma8", PLANCK18["sigma8"])
        out["done"][index] = True
    return len(items)


def _batches(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True)
class GenerationReport:
    """What a call of :func:`create_dataset` did."""

    path: str
    generated: int
    already_done: int
    total: int
    seconds: float
    splits: dict

    @property
    def samples_per_second(self) -> float:
        return self.generated / self.seconds if self.seconds > 0 else float("nan")


def create_dataset(
    out: str | Path,
    config: Config,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    kappa_from: str | Path | None = None,
    kappa_pixel_arcmin: float | None = None,
    batch_size: int = 4,
    progress: bool = True,
    console: Any = None,
) -> GenerationReport:
    """Write (or complete) the Zarr dataset of ``config`` at ``out``.

    Args:
        out: store path (a folder); created, or resumed when it holds an unfinished run of the same
            configuration.
        config: the full configuration (survey, sim); ``sim.n_samples`` and ``sim.n_test`` give the
            split sizes (for ``kappa_from`` they are set from the number of input maps).
        scheduler: ``None`` for a local cluster of ``workers`` processes; ``"sync"`` to run here
            without Dask; otherwise the address of a running Dask scheduler (``tcp://host:8786``).
        workers: local worker processes (default 2); ignored with a scheduler address.
        kappa_from: folder of user convergence maps to use instead of simulated truth.
        kappa_pixel_arcmin: their pixel scale (overrides the files' PIXSCALE/WCS; needed for .npy).
        batch_size: samples per Dask task.
        progress: show a rich progress bar.
        console: a ``rich.console.Console`` to draw on (default: stderr).

    Returns:
        A :class:`GenerationReport`.

    With a local cluster the workers are spawned processes: a script calling this must guard its entry
    point with ``if __name__ == "__main__":`` (the ``miu2net`` command does).
    """
    path = Path(out)
    if kappa_from is not None:
        inputs = list_kappa_inputs(kappa_from, pixel_arcmin=kappa_pixel_arcmin)
        config = _kappa_from_config(config, len(inputs))
        source = {"kind": "kappa_from", "dir": str(Path(kappa_from).resolve()), "pixel_arcmin": kappa_pixel_arcmin,
                  "inputs": [[i.path, i.plane, i.pixel_arcmin] for i in inputs]}
    else:
        inputs = None
        source = {"kind": "simulated"}
    if workers is not None and workers < 1:
        raise InputError(f"--workers must be >= 1; got {workers}")
    fresh = not path.exists() or (path.is_dir() and not any(path.iterdir()))  # nothing of ours to keep there
    top = path  # the highest folder this call creates (the store, or a missing parent of it)
    while not top.parent.exists() and top.parent != top.parent.parent:
        top = top.parent
    existed = path.exists()
    try:
        return _create_or_resume(path, config, source, inputs, scheduler=scheduler, workers=workers,
                                 batch_size=batch_size, progress=progress, console=console)
    except BaseException:  # a run that cannot start (no scheduler, Ctrl-C) leaves no empty store behind
        if fresh and not _generated_any(path):
            _remove_created(path, top, existed)
        raise


def _generated_any(path: Path) -> bool:
    """Whether the store at ``path`` holds at least one finished sample (False when it cannot be read)."""
    try:
        root = zarr.open_group(str(path), mode="r")
        return any(bool(_read_flags(root[s]["done"]).any()) for s in SPLITS)
    except Exception:
        return False


def _remove_created(path: Path, top: Path, existed: bool) -> None:
    """Remove what a failed first run made: the store's content when its (empty) folder existed before,
    else the highest folder the run created."""
    import shutil

    if existed:
        for child in path.iterdir():
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
    else:
        shutil.rmtree(top, ignore_errors=True)


def _create_or_resume(path: Path, config: Config, source: dict, inputs: list | None, *, scheduler: str | None,
                      workers: int | None, batch_size: int, progress: bool, console: Any) -> GenerationReport:
    """The body of :func:`create_dataset`: open or lay out the store, generate what is missing."""
    root = _open_for_writing(path, config, source)
    meta = dict(root.attrs)["miu2net"]
    sizes = split_sizes(config)
    todo: list[tuple] = []
    done_before = 0
    offset = {"train": 0, "val": sizes["train"], "test": sizes["train"] + sizes["val"]}
    for split in SPLITS:
        flags = _read_flags(root[split]["done"])
        done_before += int(flags.sum())
        seeds = root[split]["seed"][:] if sizes[split] else np.zeros(0, np.int64)
        for i in np.nonzero(~flags)[0]:
            item = None
            if inputs is not None:
                k = inputs[offset[split] + int(i)]
                item = (k.path, k.plane, k.pixel_arcmin)
            todo.append((split, int(i), int(seeds[i]), item))
    total = sum(sizes.values())
    start = time.perf_counter()
    if todo and inputs is None and config.sim.truth == "nbody":
        _simulate_bank(config, {t[0] for t in todo}, scheduler=scheduler, console=console)
    args = (str(path.resolve()), meta["run_id"], config.to_json())
    if todo:
        _run(todo, args, scheduler=scheduler, workers=workers, batch_size=batch_size, progress=progress,
             console=console, already=done_before, total=total)
    seconds = time.perf_counter() - start
    missing = {s: int((~_read_flags(root[s]["done"])).sum()) for s in SPLITS}
    if any(missing.values()):
        raise RuntimeError(f"{path}: generation finished with samples missing: {missing}; rerun to complete")
    return GenerationReport(str(path), len(todo), done_before, total, seconds, sizes)


def _simulate_bank(config: Config, splits: set[str], *, scheduler: str | None, console: Any) -> None:
    """Run the N-body simulations the splits draw from and are not yet in the plane bank, one per task."""
    from miu2net.sims.plane_bank import ensure_simulations
    from miu2net.sims.simulate import nbody_simulation_seeds

    seeds = sorted({s for split in splits for s in nbody_simulation_seeds(config, split)})
    if console is not None:
        console.print(f"N-body truth: {len(seeds)} simulation(s) in the plane bank (missing ones run first)")
    # One simulation per process (a run keeps about one core busy): the default local cluster becomes
    # Dask's process pool, "sync" runs them here one after another, an address sends them to that cluster.
    bank_scheduler = {None: "processes", "sync": "synchronous"}.get(scheduler, scheduler)
    ensure_simulations(config.sim.nbody, config.survey.z_source_max, seeds, scheduler=bank_scheduler)


def _run(todo: list, args: tuple, *, scheduler: str | None, workers: int | None, batch_size: int,
         progress: bool, console: Any, already: int, total: int) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("[bold]simulate"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, console=console, disable=not progress, transient=False) as bar:
        task = bar.add_task("simulate", total=total, completed=already)
        if scheduler == "sync":
            for batch in _batches(todo, batch_size):
                bar.advance(task, generate_items(*args, batch))
            return
        from distributed import Client, LocalCluster, as_completed

        if scheduler:
            try:
                client = Client(scheduler, timeout="20s")
            except Exception as exc:
                raise InputError(f"cannot connect to the Dask scheduler at {scheduler!r} ({exc})") from None
            cluster = None
        else:
            import logging

            cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR)
            client = Client(cluster)
        try:
            futures = [client.submit(generate_items, *args, batch, pure=False) for batch in _batches(todo, batch_size)]
            for future in as_completed(futures):
                bar.advance(task, future.result())
        finally:
            client.close()
            if cluster is not None:
                cluster.close()


# ---- reading ------------------------------------------------------------------------------------


def _open_read(path: Path) -> zarr.Group:
    if not path.exists():
        raise InputError(f"{path}: no such dataset")
    try:
        root = zarr.open_group(str(path), mode="r")
        meta = dict(root.attrs).get("miu2net")
    except Exception as exc:
        raise InputError(f"{path}: not a readable Zarr store ({exc})") from None
    if not meta or not meta.get("layout_complete"):
        raise InputError(f"{path}: not a (complete) miu2net dataset")
    return root


class SimDataset:
    """Lazy, random-access reader of one split of a dataset; picklable (e.g. for DataLoader workers).

    ``dataset[i]`` reads sample ``i`` only (one chunk per field) and returns a dict of float32 NumPy
    maps ``[y, x]`` (keys: ``fields``, default all of :data:`MAP_FIELDS`). Nothing is loaded at
    construction beyond the attributes (and the ``done`` flags when ``require_complete``).

    Args:
        path: the Zarr store.
        split: ``train``, ``val`` or ``test``.
        fields: which maps to return.
        require_complete: refuse a split with samples not yet generated (resume the run first).
    """

    def __init__(self, path: str | Path, split: str = "train", *, fields: Iterable[str] | None = None,
                 require_complete: bool = True) -> None:
        self.path = str(path)
        if split not in SPLITS:
            raise InputError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        self.split = split
        self.fields = tuple(MAP_FIELDS if fields is None else fields)
        unknown = [f for f in self.fields if f not in MAP_FIELDS]
        if unknown:
            raise InputError(f"unknown field(s) {', '.join(unknown)}; available: {', '.join(MAP_FIELDS)}")
        root = _open_read(Path(path))
        self.meta = dict(root.attrs)["miu2net"]
        group = _split_group(root, Path(path), split, self.fields)
        self._length = int(group["done"].shape[0])
        self._group = None
        if require_complete:
            missing = int((~_read_flags(group["done"])).sum())
            if missing:
                raise InputError(f"{path}: split {split} has {missing} of {self._length} samples not generated; "
                                 "rerun `miu2net simulate` with the same options to complete it")
            lost = self._missing_chunks(group, range(self._length))  # a file listing: no map is read
            if lost:
                index, name = lost[0]
                raise InputError(f"{path}: split {split}: {len(lost)} chunk(s) of finished samples are missing "
                                 f"(e.g. the {name} map of sample {index}); the store is damaged: {_REMAKE}")

    @property
    def config(self) -> Config:
        return Config.model_validate(self.meta["config"])

    @property
    def pixel_arcmin(self) -> float:
        return float(self.meta["config"]["survey"]["pixel_arcmin"])

    def _arrays(self) -> zarr.Group:
        if self._group is None:
            self._group = zarr.open_group(self.path, mode="r")[self.split]
        return self._group

    def __len__(self) -> int:
        return self._length

    def _missing_chunks(self, group: zarr.Group, indices: Iterable[int]) -> list[tuple[int, str]]:
        """``(sample, field)`` of the map chunks of ``indices`` absent from the store's folder (zarr would
        read an absent chunk as its fill value: a map of zeros)."""
        folder = Path(self.path) / self.split
        lost = []
        for name in self.fields:
            array = group[name]
            lost.extend((i, name) for i in indices
                        if not (folder / name / array.metadata.encode_chunk_key((i, 0, 0))).is_file())
        return sorted(lost)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        index = int(index)
        if index < 0:
            index += self._length
        if not 0 <= index < self._length:
            raise IndexError(f"index {index} out of range for split {self.split} of {self._length} samples")
        group = self._arrays()
        lost = self._missing_chunks(group, [index])
        if lost and bool(group["done"][index]):
            raise InputError(f"{self.path}: sample {index} of split {self.split} is marked finished but its "
                             f"{', '.join(name for _, name in lost)} map(s) are missing from the store; the store is "
                             f"damaged: {_REMAKE}")
        out = {}
        for name in self.fields:
            try:
                out[name] = np.asarray(group[name][index])
            except Exception as exc:  # a corrupt chunk: zarr's codecs raise RuntimeError, ValueError ...
                raise InputError(f"{self.path}: the {name} map of sample {index} of split {self.split} cannot be "
                                 f"read ({type(exc).__name__}: {exc}); the store is damaged: {_REMAKE}") from None
        return out

    def info(self, index: int) -> dict:
        """Scalars of sample ``index``: seed, n_halos, masked_fraction, done (and, in stores made since the
        N-body truth, simulation, omega_m, sigma8)."""
        group = self._arrays()
        return {name: group[name][int(index)].item() for name in SCALARS if name in group}

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_group"] = None  # reopened lazily in the worker process
        return state

    def __repr__(self) -> str:
        return f"SimDataset({self.path!r}, split={self.split!r}, n={self._length})"


#: What to do about a damaged store (a finished sample is never regenerated by a resumed run).
_REMAKE = "make it again with `miu2net simulate` into a new --out"


def _split_group(root: zarr.Group, path: Path, split: str, fields: Iterable[str]) -> zarr.Group:
    """The group of ``split`` with its ``done`` flags and the arrays ``fields``; InputError naming what is
    missing (a store copied in part, or damaged)."""
    if split not in root:
        found = ", ".join(sorted(root.group_keys())) or "none"
        raise InputError(f"{path}: the store has no split {split!r} (splits found: {found}); it is incomplete or "
                         f"damaged: {_REMAKE}")
    group = root[split]
    absent = [name for name in (*fields, "done") if name not in group]
    if absent:
        raise InputError(f"{path}: split {split} has no {', '.join(absent)} array(s); the store is incomplete or "
                         f"damaged: {_REMAKE}")
    return group


def read_config(path: str | Path) -> Config:
    """The configuration a store was made with."""
    return Config.model_validate(dict(_open_read(Path(path)).attrs)["miu2net"]["config"])
