r"""The reconstruct journey on the sphere: a catalogue of any footprint to HEALPix convergence maps.

Reading. The catalogue is read in chunks (:mod:`miu2net.survey.chunks`: Parquet row groups, FITS slices,
CSV blocks) and binned onto HEALPix pixels of ``nside`` (:class:`miu2net.sphere.binning.ShearAccumulator`),
never held whole; each chunk's sums are computed on a Dask worker (Parquet, FITS) and folded in chunk
order, so the map is the same whichever scheduler runs them.

Methods. ``ks`` and ``wiener`` work on the sphere itself: spin-2 spherical harmonic transforms
(:mod:`miu2net.sphere.harmonic`), the Wiener filter with the pyccl :math:`C_\ell` prior, the per-pixel
noise and the mask (:mod:`miu2net.sphere.wiener`). Every other method (``miu2net``, ``deepmass``,
``mcalens``, ``ksplus``, ``sparse``) runs on flat gnomonic patches of ``patch_size``² pixels of
``patch_pixel_arcmin`` (the survey's grid) centred on the pixels of a HEALPix tessellation that touch the
footprint; each patch is gridded from its own galaxies exactly as a single field is
(:func:`miu2net.survey.grid.bin_catalogue`: local frame, rotation of the ellipticities), reconstructed,
and reprojected onto the sphere with a cosine feather (:mod:`miu2net.sphere.patches`); the patches are
blended by their weights. A patch cannot know the modes larger than itself: by default (``large_scales
= "sphere"``) its map below the patch's fundamental mode :math:`\ell_0 = 2\pi/L` is replaced by the
spherical Wiener filter's there (sampled onto the patch), which keeps every scale of the footprint.
Patches run on Dask workers in batches (memory: one batch of patches' galaxies and maps).

Output: full-sky RING arrays (``hp.UNSEEN`` outside the footprint) ``KAPPA_E``, ``KAPPA_B``, ``NGAL``
and, with noise realisations (randomly rotated ellipticities, spherical methods), ``SIGMA_NOISE`` and
``SNR``; :func:`miu2net.io.healpix.write_healpix_maps` writes them.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from miu2net.config.survey import CSST
from miu2net.errors import InputError
from miu2net.pipeline.load import CatalogueOptions
from miu2net.survey.catalogue import Catalogue
from miu2net.survey.chunks import DEFAULT_ROWS, ChunkReader, check_counts, merge_counts

#: Methods solved on the sphere itself; the others run on flat patches.
SPHERICAL_METHODS = ("ks", "wiener")
#: Largest NSIDE of the output maps (a full-sky float64 map of 8192 is 6.4 GB).
MAX_NSIDE = 4096
#: Footprints wider than this (largest distance of a galaxy from the field centre, degrees) are mapped on
#: the sphere by default: a gnomonic map's scale is off by 1/cos² of that angle (3 % at 10°).
FLAT_LIMIT_DEG = 10.0


@dataclass(frozen=True)
class PatchPlan:
    """Flat patches over the footprint: ``size``² pixels of ``pixel_arcmin`` centred on the pixels of a
    HEALPix tessellation of ``nside_tess`` (RING) that touch the footprint."""

    size: int
    pixel_arcmin: float
    nside_tess: int
    ra: np.ndarray
    dec: np.ndarray

    @property
    def side_rad(self) -> float:
        return math.radians(self.size * self.pixel_arcmin / 60.0)

    @property
    def radius_rad(self) -> float:
        """The angular radius of a patch's corners from its centre."""
        return math.atan(math.tan(self.side_rad / 2.0) * math.sqrt(2.0))

    @property
    def fundamental_ell(self) -> float:
        return 2.0 * math.pi / self.side_rad


def tessellation_nside(size: int, pixel_arcmin: float) -> int:
    """The coarsest NSIDE whose pixels fit inside a patch's full-weight core (its side less a feather of an
    eighth on each edge): a pixel's diagonal, about sqrt(2) resolutions, must be shorter than the core,
    so that the patches centred on the tessellation cover the footprint with full weight."""
    import healpy as hp

    core = math.radians(size * pixel_arcmin / 60.0) * 0.75
    nside = 1
    while math.sqrt(2.0) * hp.nside2resol(nside) >= core and nside < 8192:
        nside *= 2
    return nside


@contextlib.contextmanager
def dask_map(scheduler: str | None, workers: int | None) -> Iterator[Callable]:
    """A function ``run(func, argument_tuples)`` yielding ``func(*args)`` in order: in this process
    (``"synchronous"``), on a local Dask cluster of ``workers`` processes (None, the default; ``"threads"``
    and ``"processes"`` mean it too), or on the
    Dask scheduler at an address (``tcp://host:8786``). At most twice the workers' count of tasks are in
    flight, so memory holds a bounded number of results."""
    if scheduler in ("synchronous", "sync"):
        yield lambda func, items: (func(*item) for item in items)
        return
    from dask.distributed import Client, LocalCluster

    cluster = None
    if scheduler is None or scheduler in ("threads", "processes"):  # the flat tiles' words for "here"
        n = max(1, workers or min(2, os.cpu_count() or 1))
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout="10s")
        except Exception as exc:
            raise InputError(f"--scheduler {scheduler}: cannot reach a Dask scheduler there ({exc})") from None
        n = max(1, len(client.scheduler_info()["workers"]))
    try:
        def run(func: Callable, items: list[tuple]) -> Iterator[Any]:
            items = list(items)
            futures, submitted = {}, 0
            for index in range(len(items)):
                while submitted < len(items) and len(futures) < 2 * n:
                    futures[submitted] = client.submit(func, *items[submitted], pure=False)
                    submitted += 1
                yield futures.pop(index).result()

        yield run
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# ---- reading and binning -----------------------------------------------------------------------------

def _rotated(catalogue: Catalogue, key: tuple | None) -> tuple[np.ndarray, np.ndarray]:
    """The ellipticities, or (with a key) each turned by a uniform random angle: a noise realisation."""
    if key is None:
        return catalogue.e1, catalogue.e2
    angle = np.random.default_rng(list(key)).uniform(0.0, 2.0 * np.pi, len(catalogue))
    e = (catalogue.e1 + 1j * catalogue.e2) * np.exp(1j * angle)
    return e.real, e.imag


def _pixel_sums(catalogue: Catalogue, nside: int, key: tuple | None) -> tuple:
    """One chunk's per-pixel sums (pixels, w, w e1, w e2, w², count) and its sum of w²|e|²."""
    import healpy as hp

    e1, e2 = _rotated(catalogue, key)
    w = catalogue.weight
    if len(catalogue) == 0:
        empty = np.zeros(0)
        return np.zeros(0, np.int64), empty, empty, empty, empty, np.zeros(0, np.int64), 0.0
    pix = hp.ang2pix(nside, catalogue.ra, catalogue.dec, lonlat=True)
    pixels, index = np.unique(pix, return_inverse=True)
    n = pixels.size
    return (pixels, np.bincount(index, w, n), np.bincount(index, w * e1, n), np.bincount(index, w * e2, n),
            np.bincount(index, w * w, n), np.bincount(index, minlength=n), float(np.sum(w * w * (e1**2 + e2**2))))


def _bin_range(reader: ChunkReader, start: int, stop: int, nside: int, key: tuple | None) -> tuple:
    catalogue, counts = reader.read(start, stop)
    return _pixel_sums(catalogue, nside, None if key is None else (*key, start)), counts


def bin_catalogue_on_sphere(reader: ChunkReader, nside: int, *, run: Callable, rows: int = DEFAULT_ROWS,
                            key: tuple | None = None) -> tuple[Any, dict]:
    """The catalogue's :class:`~miu2net.sphere.binning.ShearAccumulator` at ``nside`` and its counts;
    ``key`` (seed, realisation) turns every ellipticity by a random angle drawn from it."""
    from miu2net.sphere.binning import ShearAccumulator

    accumulator, counts = ShearAccumulator(nside), {}
    if reader.kind == "csv":
        results = ((_pixel_sums(cat, nside, None if key is None else (*key, i)), c) for i, (cat, c) in enumerate(reader))
    else:
        results = run(_bin_range, [(reader, a, b, nside, key) for a, b in reader.ranges(rows)])
    for (pixels, w, we1, we2, w2, count, w2e2), chunk_counts in results:
        accumulator.sum_w[pixels] += w
        accumulator.sum_we1[pixels] += we1
        accumulator.sum_we2[pixels] += we2
        accumulator.sum_w2[pixels] += w2
        accumulator.count[pixels] += count
        accumulator.sum_w2e2 += w2e2
        counts = merge_counts(counts, chunk_counts) if counts else chunk_counts
    return accumulator, counts


# ---- spherical methods -----------------------------------------------------------------------------

def prior_cl(options: dict) -> Callable[[np.ndarray], np.ndarray]:
    """The Wiener prior :math:`C_\\ell` (pyccl, Planck 2018) of the options' ``z_source`` (default the csst
    survey's single plane) or ``nz``."""
    from miu2net.physics.wiener import signal_power

    cl, _ = signal_power(cl_kappa=options.get("cl_kappa"), z_source=options.get("z_source"), nz=options.get("nz"))
    return cl


def spherical_kappa(shear: Any, method: str, options: dict) -> tuple[np.ndarray, np.ndarray, dict]:
    """``(kappa_E, kappa_B, info)`` of a :class:`~miu2net.sphere.binning.HealpixShear` by ``ks`` or ``wiener``."""
    from miu2net.sphere.harmonic import shear_to_kappa
    from miu2net.sphere.wiener import wiener_filter

    lmax = options.get("lmax")
    if method == "ks":
        kappa_e, kappa_b = shear_to_kappa(shear.gamma1, shear.gamma2, shear.mask, lmax)
        return kappa_e, kappa_b, {}
    result = wiener_filter(shear.gamma1, shear.gamma2, shear.noise, prior_cl(options), mask=shear.mask, lmax=lmax,
                           b_mode_prior=options.get("b_mode_prior", 1.0), tol=options.get("tol", 1e-5),
                           max_iter=options.get("max_iter", 500))
    return result.kappa_e, result.kappa_b, {"iterations": result.n_iter, "residual": result.residual,
                                            "converged": result.converged}


SPHERE_OPTIONS = {"ks": ("lmax",), "wiener": ("lmax", "z_source", "nz", "cl_kappa", "b_mode_prior", "tol", "max_iter")}


def check_sphere_options(method: str, options: dict) -> None:
    """The options a spherical method takes (InputError for others or for bad values)."""
    known = SPHERE_OPTIONS[method]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise InputError(f"method {method!r} on the sphere has no option(s) {', '.join(unknown)}; its options: "
                         f"{', '.join(known)}")
    lmax = options.get("lmax")
    if lmax is not None and (isinstance(lmax, bool) or not isinstance(lmax, int) or lmax < 2):
        raise InputError(f"option lmax must be an integer >= 2; got {lmax!r}")
    from miu2net.methods.base import OPTIONS

    for name in set(options) & set(OPTIONS):
        OPTIONS[name].check(name, options[name])


# ---- flat methods on patches -----------------------------------------------------------------------

def plan_patches(mask: np.ndarray, size: int, pixel_arcmin: float) -> PatchPlan:
    """Patches over the observed pixels of ``mask`` (a RING map)."""
    from miu2net.sphere.patches import patch_centres

    nside_tess = tessellation_nside(size, pixel_arcmin)
    import healpy as hp

    nside = hp.npix2nside(mask.size)
    if nside_tess > nside:  # the footprint map is coarser than the tessellation: degrade the tessellation
        nside_tess = nside
    _, ra, dec = patch_centres(nside_tess, mask)
    return PatchPlan(size, pixel_arcmin, nside_tess, ra, dec)


def _patch_members(catalogue: Catalogue, plan: PatchPlan, batch: list[int]) -> list[np.ndarray]:
    """For each patch of ``batch``, the indices of the chunk's galaxies within its corner radius."""
    import healpy as hp

    vec = hp.ang2vec(catalogue.ra, catalogue.dec, lonlat=True)
    cos_radius = math.cos(plan.radius_rad)
    out = []
    for p in batch:
        centre = hp.ang2vec(plan.ra[p], plan.dec[p], lonlat=True)
        out.append(np.flatnonzero(vec @ centre >= cos_radius))
    return out


def _gather_range(reader: ChunkReader, start: int, stop: int, plan: PatchPlan, batch: list[int]) -> list[tuple]:
    catalogue, _ = reader.read(start, stop)
    return [tuple(getattr(catalogue, k)[i] for k in ("ra", "dec", "e1", "e2", "weight"))
            for i in _patch_members(catalogue, plan, batch)]


def _reconstruct_patch(columns: tuple, ra0: float, dec0: float, plan: PatchPlan, method: str, options: dict,
                       shape_noise_sigma: float, nside: int, large: np.ndarray | None) -> tuple | None:
    """One patch: gridded as a single field, reconstructed, its scales above the patch's fundamental mode
    joined to ``large`` (the spherical Wiener map at the patch's pixels) below it, reprojected."""
    from miu2net.methods import reconstruct
    from miu2net.nn.inference import high_pass
    from miu2net.sphere.patches import patch_to_sphere
    from miu2net.survey.grid import bin_catalogue

    ra, dec, e1, e2, weight = columns
    if ra.size < 10:
        return None
    catalogue = Catalogue(ra=ra, dec=dec, e1=e1, e2=e2, weight=weight, meta={})
    try:
        shear, _ = bin_catalogue(catalogue, pixel_arcmin=plan.pixel_arcmin, size=plan.size, center=(ra0, dec0),
                                 shape_noise_sigma=shape_noise_sigma, max_outside_fraction=1.0)
        kappa = reconstruct(shear, method, **options)
    except InputError:
        return None  # a patch on the footprint's rim with too little data: its neighbours cover it
    kappa_e, pixel = kappa.kappa_e, kappa.pixel_arcmin  # a trained model may have binned the patch to its pixel
    if large is not None:
        factor = large.shape[0] // kappa_e.shape[0]
        if factor > 1:  # the same centre: an even side binned by an integer factor
            n = kappa_e.shape[0]
            large = large[: n * factor, : n * factor].reshape(n, factor, n, factor).mean(axis=(1, 3))
        kappa_e = high_pass(kappa_e, plan.fundamental_ell, pixel) + (large - high_pass(large, plan.fundamental_ell,
                                                                                         pixel))
    e = patch_to_sphere(kappa_e, ra0, dec0, pixel, nside)
    b = patch_to_sphere(kappa.kappa_b, ra0, dec0, pixel, nside)
    return e.pixels, e.values, b.values, e.weight


def patches_on_sphere(reader: ChunkReader, plan: PatchPlan, method: str, options: dict, *, nside: int,
                      shape_noise_sigma: float, sphere_wiener: np.ndarray | None, run: Callable,
                      rows: int = DEFAULT_ROWS, batch_size: int = 16,
                      progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Blend sums ``(sum w kE, sum w kB, sum w)`` of every patch, and the number of patches used."""
    import healpy as hp

    from miu2net.sphere.patches import sample_to_patch

    npix = hp.nside2npix(nside)
    sum_e, sum_b, sum_w = np.zeros(npix), np.zeros(npix), np.zeros(npix)
    n_patches, used = len(plan.ra), 0
    for first in range(0, n_patches, batch_size):
        batch = list(range(first, min(first + batch_size, n_patches)))
        members: list[list[tuple]] = [[] for _ in batch]
        if reader.kind == "csv":
            chunks = ([tuple(getattr(cat, k)[i] for k in ("ra", "dec", "e1", "e2", "weight"))
                       for i in _patch_members(cat, plan, batch)] for cat, _ in reader)
        else:
            chunks = run(_gather_range, [(reader, a, b, plan, batch) for a, b in reader.ranges(rows)])
        for chunk in chunks:
            for slot, columns in enumerate(chunk):
                members[slot].append(columns)
        # the large scales travel as each patch's own 256² cut, not as the full-sky map
        jobs = [(tuple(np.concatenate([m[k] for m in members[slot]]) for k in range(5)), float(plan.ra[p]),
                 float(plan.dec[p]), plan, method, options, shape_noise_sigma, nside,
                 None if sphere_wiener is None else
                 sample_to_patch(sphere_wiener, float(plan.ra[p]), float(plan.dec[p]), plan.size, plan.pixel_arcmin))
                for slot, p in enumerate(batch)]
        del members
        for result in run(_reconstruct_patch, jobs):
            if result is None:
                continue
            pixels, e, b, w = result
            sum_e[pixels] += w * e
            sum_b[pixels] += w * b
            sum_w[pixels] += w
            used += 1
        if progress is not None:
            progress(batch[-1] + 1, n_patches)
    return sum_e, sum_b, sum_w, used


# ---- the journey -----------------------------------------------------------------------------------

def reconstruct_healpix(
    path: str | Path,
    *,
    nside: int,
    method: str = "wiener",
    options: dict | None = None,
    catalogue: CatalogueOptions | None = None,
    noise_realisations: int = 0,
    seed: int = 0,
    scheduler: str | None = None,
    workers: int | None = None,
    rows: int = DEFAULT_ROWS,
    patch_size: int = CSST["map_size"],
    patch_pixel_arcmin: float = CSST["pixel_arcmin"],
    large_scales: str = "sphere",
    patches: bool | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[dict[str, np.ndarray], dict]:
    """HEALPix convergence maps of a catalogue (module docstring).

    Args:
        path: catalogue (Parquet, FITS table or CSV; columns as for a flat map).
        nside: NSIDE of the output maps (and of the spherical methods), a power of two up to
            :data:`MAX_NSIDE`.
        method: ``ks`` or ``wiener`` on the sphere, or any flat method on patches.
        options: the method's options (spherical: ``lmax`` and the Wiener prior's; flat: the method's).
        catalogue: column names, sign flips, cuts and ``shape_noise_sigma`` (pixel and size do not apply).
        noise_realisations: randomly rotated catalogues for ``SIGMA_NOISE`` and ``SNR`` (spherical methods).
        seed: seed of the rotations.
        scheduler, workers: Dask (:func:`dask_map`).
        rows: catalogue rows per chunk.
        patch_size, patch_pixel_arcmin: the flat patches (default: the csst survey's 256² of 0.41′).
        large_scales: ``"sphere"`` (patches take the spherical Wiener filter below their fundamental mode)
            or ``"patch"`` (each patch's own).
        patches: run the method on flat patches (True), on the sphere (False, ``ks`` and ``wiener``
            only) or by its kind (None: those two on the sphere, every other method on patches).
        progress: called with (stage, done, total).

    Returns:
        (maps, meta): RING arrays by FITS column name and the provenance.
    """
    import healpy as hp

    from miu2net.methods import get_method

    options = dict(options or {})
    if not isinstance(nside, int) or isinstance(nside, bool) or not hp.isnsideok(nside, nest=True) or nside > MAX_NSIDE:
        raise InputError(f"--healpix {nside!r}: NSIDE must be a power of two from 1 to {MAX_NSIDE}")
    if large_scales not in ("sphere", "patch"):
        raise InputError(f"large_scales must be 'sphere' or 'patch'; got {large_scales!r}")
    spherical = method in SPHERICAL_METHODS if patches is None else not patches
    if spherical and method not in SPHERICAL_METHODS:
        raise InputError(f"method {method!r} runs on flat patches only; on the sphere: {', '.join(SPHERICAL_METHODS)}")
    if spherical:
        check_sphere_options(method, options)
    else:
        get_method(method).check_options(options)
        if noise_realisations:
            raise InputError(f"--noise-realisations on the sphere are computed for ks and wiener; {method} runs on "
                             "flat patches, where they would cost a whole reconstruction each: give 0, or use "
                             "--method wiener for SIGMA_NOISE and SNR")
    opts = catalogue or CatalogueOptions()
    reader = ChunkReader(path, columns=opts.columns, flip_e1=opts.flip_e1, flip_e2=opts.flip_e2, cuts=opts.cuts)
    started = time.perf_counter()
    say = progress or (lambda stage, done, total: None)
    with dask_map(scheduler, workers) as run:
        say("binning", 0, 1)
        accumulator, counts = bin_catalogue_on_sphere(reader, nside, run=run, rows=rows)
        check_counts(Path(path), counts)
        shear = accumulator.finish(opts.shape_noise_sigma)
        say("binning", 1, 1)
        meta: dict[str, Any] = {"method": method if spherical else f"{method} (flat patches)", "options": {k: v for k, v in options.items() if k != "model"},
                                "input": str(path), "n_galaxies": counts["n_galaxies"], "counts": counts,
                                "shape_noise_sigma": shear.per_component_sigma * math.sqrt(2.0)}
        observed = shear.mask > 0
        if spherical:
            kappa_e, kappa_b, info = spherical_kappa(shear, method, options)
            meta.update(info)
        else:
            wiener_e = None
            if large_scales == "sphere":
                wiener_e, _, info = spherical_kappa(shear, "wiener", {})
                wiener_e = np.where(observed, wiener_e, 0.0)
                meta["large_scales"] = {"from": "spherical Wiener filter", **info}
            plan = plan_patches(shear.mask, patch_size, patch_pixel_arcmin)
            sum_e, sum_b, sum_w, used = patches_on_sphere(
                reader, plan, method, options, nside=nside, shape_noise_sigma=meta["shape_noise_sigma"],
                sphere_wiener=wiener_e, run=run, rows=rows, progress=lambda d, t: say("patches", d, t))
            covered = observed & (sum_w > 0)
            kappa_e = np.where(covered, sum_e / np.where(covered, sum_w, 1.0), 0.0)
            kappa_b = np.where(covered, sum_b / np.where(covered, sum_w, 1.0), 0.0)
            uncovered = observed & ~covered  # no patch reached them (a rim patch with too little data)
            if wiener_e is not None:
                kappa_e = np.where(uncovered, wiener_e, kappa_e)
            else:
                observed = covered
            meta.update({"patches": used, "patch_pixel_arcmin": patch_pixel_arcmin, "patch_size": patch_size,
                         "nside_tessellation": plan.nside_tess, "pixels_from_sphere_only": int(uncovered.sum())})
        kappa_e = np.where(observed, kappa_e, hp.UNSEEN)
        kappa_b = np.where(observed, kappa_b, hp.UNSEEN)
        maps = {"KAPPA_E": kappa_e, "KAPPA_B": kappa_b, "NGAL": np.where(observed, shear.n_gal, hp.UNSEEN)}
        if noise_realisations:
            sigma = _noise_sigma(reader, shear, method, options, nside, noise_realisations, seed, run, rows, opts, say)
            maps["SIGMA_NOISE"] = np.where(observed, sigma, hp.UNSEEN)
            with np.errstate(invalid="ignore", divide="ignore"):
                maps["SNR"] = np.where(observed & (sigma > 0), kappa_e / np.where(sigma > 0, sigma, 1.0), hp.UNSEEN)
            meta["options"]["noise_realisations"] = noise_realisations
    meta["seconds"] = time.perf_counter() - started
    return maps, meta


def _noise_sigma(reader: ChunkReader, shear: Any, method: str, options: dict, nside: int, n: int, seed: int,
                 run: Callable, rows: int, catalogue: CatalogueOptions, say: Callable) -> np.ndarray:
    """Per-pixel standard deviation of the method's κ_E over ``n`` randomly rotated catalogues."""
    total = np.zeros(hp_npix(nside))
    total2 = np.zeros_like(total)
    for k in range(n):
        accumulator, _ = bin_catalogue_on_sphere(reader, nside, run=run, rows=rows, key=(seed, k))
        noise_shear = accumulator.finish(catalogue.shape_noise_sigma)
        kappa_e, _, _ = spherical_kappa(noise_shear, method, options)
        kappa_e = np.where(shear.mask > 0, kappa_e, 0.0)
        total += kappa_e
        total2 += kappa_e**2
        say("noise", k + 1, n)
    mean = total / n
    return np.sqrt(np.maximum(total2 / n - mean**2, 0.0) * n / (n - 1))


def hp_npix(nside: int) -> int:
    return 12 * int(nside) ** 2


def footprint_radius_deg(path: str | Path, catalogue: CatalogueOptions | None = None) -> float:
    """The largest angle (degrees) between a galaxy of the catalogue and the direction of its mean position,
    read in chunks (two passes over the positions)."""
    import healpy as hp

    opts = catalogue or CatalogueOptions()
    reader = ChunkReader(path, columns=opts.columns, flip_e1=opts.flip_e1, flip_e2=opts.flip_e2, cuts=opts.cuts)
    total = np.zeros(3)
    for ra, dec in reader.positions():
        if ra.size:
            total += hp.ang2vec(ra, dec, lonlat=True).sum(axis=0)
    norm = np.linalg.norm(total)
    if norm == 0:
        return 0.0  # no position to judge: the flat path reads the catalogue and says what is wrong
    centre, smallest = total / norm, 1.0
    for ra, dec in reader.positions():
        if ra.size:
            smallest = min(smallest, float((hp.ang2vec(ra, dec, lonlat=True) @ centre).min()))
    return float(np.degrees(np.arccos(np.clip(smallest, -1.0, 1.0))))
