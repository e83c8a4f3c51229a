"""The user's reconstruction journey as one Python call: a file in, a convergence map with errors out.

``reconstruct_file`` reads gridded shear (FITS/npz) or a galaxy catalogue (FITS table, CSV, Parquet),
grids the catalogue, runs a method (tiled for wide fields when asked), and adds the noise-only error
and S/N maps from randomly rotated ellipticities. The CLI's ``reconstruct`` is a thin shell over it.

A trained model's method (``miu2net``, ``deepmass``) bins input at an integer fraction of the model's
pixel to that pixel (:mod:`miu2net.methods.miu2net`); here the shear is binned first, so that tiles,
the CHI2DOF of a tiled map, the noise realisations and the returned ShearMap all are on the κ map's
grid. ``tile`` and ``tile_overlap`` count input pixels and are divided by the binning factor.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
import inspect
from pathlib import Path

from astropy.io import fits

from miu2net.errors import DataConsistencyWarning, InputError
from miu2net.io import FITS_SUFFIXES, read_shear_map
from miu2net.maps import KappaMap, ShearMap, bin_shear
from miu2net.methods import get_method
from miu2net.methods import reconstruct as run_method

DEFAULT_CATALOGUE_PIXEL_ARCMIN = 0.82

#: The default method of ``reconstruct``: the shipped MIU2Net where the input matches it, else KS.
AUTO = "auto"
#: What ``auto`` falls back to when the shipped model does not fit the input.
AUTO_FALLBACK = "ks"


@dataclass
class CatalogueOptions:
    """How to read and grid a catalogue (ignored for gridded input). Angles in degrees / arcmin as named."""

    columns: dict[str, str] = field(default_factory=dict)
    flip_e1: bool = False
    flip_e2: bool = False
    cuts: list[str] = field(default_factory=list)
    pixel_arcmin: float | None = None
    size: int | None = None
    center: tuple[float, float] | None = None
    shape_noise_sigma: float | None = None


def is_gridded(path: Path) -> bool:
    """True for gridded shear (npz, or FITS with a G1 image HDU); False for a catalogue."""
    if path.suffix.lower() == ".npz":
        return True
    if str(path).lower().endswith(FITS_SUFFIXES):
        try:
            with fits.open(path, memmap=False) as hdul:
                return any(h.name.upper() == "G1" for h in hdul)
        except Exception as exc:
            raise InputError(f"{path}: not a readable FITS file ({exc})") from None
    return False


def load_shear(path: str | Path, catalogue: CatalogueOptions | None = None):
    """Gridded shear from ``path``; for a catalogue also its Binning (else None)."""
    from miu2net.survey import bin_catalogue, read_catalogue

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if is_gridded(path):
        return read_shear_map(path), None
    opts = catalogue or CatalogueOptions()
    cat = read_catalogue(path, columns=opts.columns, flip_e1=opts.flip_e1, flip_e2=opts.flip_e2, cuts=opts.cuts)
    pixel = opts.pixel_arcmin if opts.pixel_arcmin is not None else DEFAULT_CATALOGUE_PIXEL_ARCMIN
    return bin_catalogue(cat, pixel_arcmin=pixel, size=opts.size, center=opts.center,
                         shape_noise_sigma=opts.shape_noise_sigma)


def reconstruct_file(
    path: str | Path,
    *,
    method: str = AUTO,
    options: dict | None = None,
    catalogue: CatalogueOptions | None = None,
    noise_realisations: int = 0,
    tile: int | None = None,
    tile_overlap: int = 32,
    scheduler: str | None = None,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> tuple[KappaMap, ShearMap]:
    """Reconstruct the convergence from a shear file with ``method``.

    Args:
        path: gridded shear or galaxy catalogue.
        method: a name from :data:`miu2net.methods.METHODS`, or ``auto`` (:func:`choose_method`: the
            shipped MIU2Net when the input matches it, else KS; the choice and its reason in ``meta["auto"]``).
        options: the method's keyword options.
        catalogue: reading and gridding options for catalogue input.
        noise_realisations: number of randomly rotated (or Gaussian, for gridded input) noise
            realisations for ``SIGMA_NOISE`` and ``SNR``; 0 for none.
        tile, tile_overlap: reconstruct in tiles of ``tile`` pixels overlapping by ``tile_overlap``
            (wide fields); None for one map.
        scheduler: Dask scheduler for the tiles: None or "threads" (local threads), "processes",
            "synchronous", or the address of a Dask distributed scheduler (tcp://host:8786).
        seed: seed of the noise realisations.
        progress: called with the number of noise realisations done.

    Returns:
        (KappaMap, ShearMap): the result (provenance in ``meta``) and the gridded input it came from.
    """
    from miu2net.survey.noise import catalogue_noise_shear, gridded_noise_shear, noise_sigma
    from miu2net.survey.tiling import reconstruct_tiled

    shear, binning = load_shear(path, catalogue)
    options = dict(options or {})
    auto = None
    if method == AUTO:
        method, auto = choose_method(shear, options)
    gridded = shear  # the catalogue's own grid, on which its noise realisations are binned
    shear, binned = _bin_for_model(shear, method, options)
    factor = 1 if binned is None else binned["factor"]
    if tile is not None and factor > 1:
        tile, tile_overlap = tile // factor, tile_overlap // factor

    def run(s: ShearMap) -> KappaMap:
        if tile is not None and tile < s.shape[0]:
            return reconstruct_tiled(s, lambda t: run_method(t, method, **options), tile=tile,
                                     overlap=tile_overlap, scheduler=scheduler)
        return run_method(s, method, **options)

    kappa = run(shear)
    if tile is not None and tile < shear.shape[0] and shear.noise is not None:
        from miu2net.stats.consistency import chi2_per_dof

        chi2 = chi2_per_dof(shear.g1, shear.g2, shear.mask, shear.noise, kappa.kappa_e)
        kappa = replace(kappa, meta={**kappa.meta, "chi2dof": chi2})
        if kappa.meta.get("dataok") is not None:  # a calibrated model judged each tile: judge the whole map
            from miu2net.methods.miu2net import recheck_consistency

            kappa = recheck_consistency(kappa, shear)
    if noise_realisations:
        if binning is not None:
            def draw(rng):
                return bin_shear(catalogue_noise_shear(gridded, binning, rng), factor)
        else:
            def draw(rng):
                return gridded_noise_shear(shear, rng)
        with warnings.catch_warnings():  # noise-only maps are not data: no consistency warning for them
            warnings.simplefilter("ignore", DataConsistencyWarning)
            sigma = noise_sigma(draw, run, n_realisations=noise_realisations, seed=seed, progress=progress)
        kappa = replace(kappa, sigma_noise=sigma)
    meta = {**kappa.meta, "input": str(path), "options": {**kappa.meta.get("options", {}), **_provenance(
        catalogue if binning is not None else None, noise_realisations, tile, tile_overlap)}}
    for key in ("method", "model"):
        meta.setdefault(key, method if key == "method" else "none")
    if binned is not None:
        meta["binned"] = binned
    if auto is not None:
        meta["auto"] = auto
    return replace(kappa, meta=meta, wcs=kappa.wcs if kappa.wcs is not None else shear.wcs), shear


def choose_method(shear: ShearMap, options: dict) -> tuple[str, dict]:
    """The method ``auto`` stands for on ``shear``, and why: ``miu2net`` with its shipped default model
    when the input matches the model's configuration (its pixel scale, at least its map size, a noise
    map within its noise range), else ``ks`` with the reason. Input at an integer fraction of the
    model's pixel goes to ``ks`` on its own grid too: binning it for the network changes the map's
    pixels, which only ``--method miu2net`` asks for (the reason says so)."""
    from miu2net.methods.miu2net import DEFAULT_MODEL, binning_factor
    from miu2net.nn.checkpoint import load_model

    if options:
        raise InputError(f"--option {', '.join(sorted(options))} belongs to one method: give --method too "
                         "(auto picks miu2net or ks)")
    try:
        trained = load_model(DEFAULT_MODEL)
        factor = binning_factor(shear.pixel_arcmin, trained.pixel_arcmin)
        if factor > 1:
            return AUTO_FALLBACK, {
                "chosen": AUTO_FALLBACK, "model": None,
                "reason": f"its {shear.pixel_arcmin:g}' pixels are finer than the model's {trained.pixel_arcmin:g}'; "
                          f"--method miu2net bins them {factor}x{factor} and returns the map on that grid"}
        trained.check_input(shear)
    except InputError as exc:
        return AUTO_FALLBACK, {"chosen": AUTO_FALLBACK, "model": None, "reason": str(exc)}
    return "miu2net", {"chosen": "miu2net", "model": trained.name, "reason": "the input fits the shipped model"}


def _bin_for_model(shear: ShearMap, method: str, options: dict) -> tuple[ShearMap, dict | None]:
    """``shear`` binned to the pixel of the method's trained model (option ``model`` or the method's
    default) when the method would bin it (module docstring), with the binning record; else unchanged."""
    params = inspect.signature(get_method(method)).parameters
    if "model" not in params:
        return shear, None
    from miu2net.methods.miu2net import bin_to_model

    return bin_to_model(shear, options.get("model", params["model"].default))


def _provenance(catalogue: CatalogueOptions | None, n_noise: int, tile: int | None, overlap: int) -> dict:
    extra = {}
    if n_noise:
        extra["noise_realisations"] = n_noise
    if tile is not None:
        extra["tile"], extra["tile_overlap"] = tile, overlap
    if catalogue is not None:
        extra.update({k: v for k, v in catalogue.__dict__.items() if v not in (None, False, [], {})})
    return extra
