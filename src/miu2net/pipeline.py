"""The user's reconstruction journey as one Python call: a file in, a convergence map with errors out.

``reconstruct_file`` reads gridded shear (FITS/npz) or a galaxy catalogue (FITS table, CSV, Parquet),
grids the catalogue, runs a method (tiled for wide fields when asked), and adds the noise-only error
and S/N maps from randomly rotated ellipticities. The CLI's ``reconstruct`` is a thin shell over it.

The method is asked once, through its contract (:mod:`miu2net.methods.base`), for its options
(checked, and a trained model loaded once for every tile and noise realisation) and for the grid it
works on: a trained model's method (``miu2net``, ``deepmass``) bins input at an integer fraction of the
model's pixel to that pixel (:mod:`miu2net.nn.inference`); here the shear is binned first, so that
tiles, the CHI2DOF of a tiled map, the noise realisations and the returned ShearMap all are on the κ
map's grid. ``tile`` and ``tile_overlap`` count input pixels and are divided by the binning factor.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from astropy.io import fits

from miu2net.errors import DataConsistencyWarning, InputError
from miu2net.io import FITS_SUFFIXES, read_shear_map
from miu2net.maps import KappaMap, ShearMap, bin_shear
from miu2net.methods import Method, get_method
from miu2net.methods import reconstruct as run_method
from miu2net.physics.consistency import chi2_per_dof

if TYPE_CHECKING:
    from miu2net.config import SurveyConfig

#: The pixel a catalogue is gridded at by default: the default survey's (preset csst), where the native
#: shipped model works.
DEFAULT_CATALOGUE_PIXEL_ARCMIN = 0.41

#: The default method of ``reconstruct``: the shipped MIU2Net where the input matches it, else the
#: Wiener filter (the best classical method on the benchmark after MCALens, at a third of its time).
AUTO = "auto"
#: What ``auto`` falls back to when the shipped model does not fit the input.
AUTO_FALLBACK = "wiener"


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
            with warnings.catch_warnings():  # a damaged file is reported by the reader, in one line
                warnings.simplefilter("ignore")
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
    survey: str | SurveyConfig | None = None,
) -> tuple[KappaMap, ShearMap]:
    """Reconstruct the convergence from a shear file with ``method``.

    Args:
        path: gridded shear or galaxy catalogue.
        method: a name from :data:`miu2net.methods.METHODS`, or ``auto`` (:func:`choose_method`: the
            shipped MIU2Net when the input matches it, else the Wiener filter; the choice and its reason in
            ``meta["auto"]``).
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
        survey: a survey preset (``csst``, ``csst-small``, ``euclid``, ``lsst``) or SurveyConfig whose
            numbers are the defaults: the catalogue's pixel scale, and the source redshifts (single
            plane or n(z)), shape noise and density of the methods that take them (:func:`survey_options`);
            given options and catalogue settings win.

    Returns:
        (KappaMap, ShearMap): the result (provenance in ``meta``) and the gridded input it came from.

    Raises:
        InputError: before any work, for a missing input, an unknown method, option values of the wrong
            type or out of range, or gridding options out of range (:func:`validate_reconstruct_request`);
            later, for unreadable or inconsistent data.
    """
    from miu2net.survey.noise import catalogue_noise_shear, gridded_noise_shear, noise_sigma
    from miu2net.survey.tiling import reconstruct_tiled

    validate_reconstruct_request(Path(path), method=method, options=options, catalogue=catalogue,
                                 noise_realisations=noise_realisations, tile=tile, tile_overlap=tile_overlap,
                                 seed=seed)
    if isinstance(survey, str):
        from miu2net.config import preset  # pydantic models: imported when a preset is named

        survey = preset(survey).survey
    if survey is not None and (catalogue is None or catalogue.pixel_arcmin is None):
        catalogue = replace(catalogue or CatalogueOptions(), pixel_arcmin=survey.pixel_arcmin)
    shear, binning = load_shear(path, catalogue)
    check_size_options(options or {}, side=max(shear.shape), pixel_arcmin=shear.pixel_arcmin)
    options = dict(options or {})
    auto = None
    if method == AUTO:
        method, auto, trained = _auto_choice(shear, options)
        if trained is not None:
            options = {**options, "model": trained}  # loaded once, for the choice and for every run
        else:
            if options:
                auto["dropped_options"] = sorted(options)
            options = {}
    spec = get_method(method)
    if survey is not None:
        options = survey_options(survey, spec, options)
    options = spec.bind(options, shear)  # checked; a trained model is loaded here, once (by the input's pixel)
    gridded = shear  # the catalogue's own grid, on which its noise realisations are binned
    shear, binned = spec.working_grid(shear, options)
    factor = 1 if binned is None else binned["factor"]
    if tile is not None and factor > 1:
        tile, tile_overlap = tile // factor, tile_overlap // factor

    # Tiles on other processes or machines get the model's name and load it once each, rather than the
    # loaded network pickled into every task.
    tile_options = options if not scheduler or "model" not in options else {**options, "model": options["model"].name}

    def run(s: ShearMap) -> KappaMap:
        if tile is not None and tile < s.shape[0]:
            return reconstruct_tiled(s, lambda t: run_method(t, method, **tile_options), tile=tile,
                                     overlap=tile_overlap, scheduler=scheduler)
        return run_method(s, method, **options)

    kappa = run(shear)
    if tile is not None and tile < shear.shape[0] and shear.noise is not None:
        mean = kappa.kappa_mean if kappa.kappa_mean is not None else kappa.kappa_e  # the map CHI2DOF is calibrated for
        chi2 = chi2_per_dof(shear.g1, shear.g2, shear.mask, shear.noise, mean)
        kappa = replace(kappa, meta={**kappa.meta, "chi2dof": chi2})
        if kappa.meta.get("dataok") is not None:  # a calibrated model judged each tile: judge the whole map
            from miu2net.nn.inference import recheck_consistency

            kappa = recheck_consistency(kappa, shear, model=options.get("model"))
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
    if survey is not None:
        meta["survey"] = survey.name
    return replace(kappa, meta=meta, wcs=kappa.wcs if kappa.wcs is not None else shear.wcs), shear


def survey_options(survey: SurveyConfig, method: Method, options: dict) -> dict:
    """``options`` with the survey's numbers as defaults for the options ``method`` takes: the source
    plane ``z_source`` or the tabulated ``nz``, ``shape_noise_sigma`` and ``n_gal_arcmin2``. An option
    given, or a prior given another way (``cl_kappa``, ``nz`` or ``z_source``), wins."""
    from miu2net.sims.simulate import source_nz  # pyccl: imported only when a survey is given

    nz = source_nz(survey)
    prior = {"nz": nz} if nz is not None else {"z_source": survey.z_source}
    defaults = {**prior, "shape_noise_sigma": survey.shape_noise_sigma, "n_gal_arcmin2": survey.n_gal_arcmin2}
    prior_given = any(k in options for k in ("cl_kappa", "nz", "z_source"))
    out = dict(options)
    for key, value in defaults.items():
        if key in method.options and key not in out and not (key in prior and prior_given):
            out[key] = value
    return out


def choose_method(shear: ShearMap, options: dict) -> tuple[str, dict]:
    """The method ``auto`` stands for on ``shear``, and why: ``miu2net`` with its shipped default model
    when the input matches the model's configuration (its pixel scale, at least its map size, a noise
    map within its noise range), else the Wiener filter (:data:`AUTO_FALLBACK`) with the reason. Input
    at an integer fraction of the model's pixel goes to the Wiener filter on its own grid too: binning it
    for the network changes the map's pixels, which only ``--method miu2net`` asks for (the reason says so)."""
    method, why, _ = _auto_choice(shear, options)
    return method, why


#: Options ``auto`` passes to the network when it chooses it (and drops, saying so, when it falls back).
AUTO_NETWORK_OPTIONS = ("coverage", "estimate")


def _auto_choice(shear: ShearMap, options: dict) -> tuple[str, dict, Any]:
    """:func:`choose_method`, and the loaded model when the network was chosen (else None)."""
    other = sorted(set(options) - set(AUTO_NETWORK_OPTIONS))
    if other:
        raise InputError(f"--option {', '.join(other)} belongs to one method: give --method too "
                         "(auto picks miu2net or wiener)")
    network = get_method("miu2net")
    try:
        bound = network.bind({}, shear)
    except InputError as exc:
        return AUTO_FALLBACK, {"chosen": AUTO_FALLBACK, "model": None, "reason": str(exc)}, None
    trained = bound["model"]
    _, binned = network.working_grid(shear, bound)
    if binned is not None:
        factor = binned["factor"]
        return AUTO_FALLBACK, {
            "chosen": AUTO_FALLBACK, "model": None,
            "reason": f"its {shear.pixel_arcmin:g}' pixels are finer than the model's {trained.pixel_arcmin:g}'; "
                      f"--method miu2net bins them {factor}x{factor} and returns the map on that grid"}, None
    problems = network.problems(shear, bound)
    if problems:
        reason = f"model {trained.name}: " + "; ".join(problems) + "."
        return AUTO_FALLBACK, {"chosen": AUTO_FALLBACK, "model": None, "reason": reason}, None
    chosen = {"chosen": "miu2net", "model": trained.name, "reason": "the input fits the shipped model"}
    return "miu2net", chosen, trained


#: Smallest map side (pixels) a reconstruction is made on: below it the map holds no structure.
MIN_MAP_SIZE = 8


def check_method_options(method: str, options: dict) -> None:
    """Refuse options ``method`` does not have, values of the wrong kind and numbers out of range: the
    method's own declaration (:class:`miu2net.methods.base.Option`), checked before any work."""
    get_method(method).check_options(options)


def validate_reconstruct_request(
    path: Path,
    *,
    output: Path | None = None,
    png: Path | None = None,
    method: str = AUTO,
    options: dict | None = None,
    catalogue: CatalogueOptions | None = None,
    noise_realisations: int = 0,
    tile: int | None = None,
    tile_overlap: int = 32,
    seed: int = 0,
) -> None:
    """Everything ``reconstruct_file`` and the outputs need, checked before any work (InputError).

    The input exists; each output can be written and is neither the input nor another output; the
    method and its option values are known and in range; the catalogue's gridding options are finite
    and in range, and an asked map size fits in memory (:func:`miu2net.validate.check_map_size_memory`);
    the figure is a ``.png``; the seed is one the random generator takes.
    """
    from miu2net.validate import (
        MAX_NOISE_REALISATIONS,
        check_input_file,
        check_map_size_memory,
        check_number,
        check_output_path,
        check_seed,
    )

    path = Path(path)
    check_input_file(path, "input")
    if output is not None:
        check_output_path(output, "-o", inputs=[path])
    if png is not None:
        check_output_path(png, "--png", inputs=[path], others=[("-o", output)], suffix=".png")
    check_seed(seed)
    if method != AUTO:
        check_method_options(method, options or {})
    else:
        other = sorted(set(options or {}) - set(AUTO_NETWORK_OPTIONS))
        if other:
            raise InputError(f"--option {', '.join(other)} belongs to one method: give --method too "
                             "(auto picks miu2net or wiener)")
        get_method("miu2net").check_options(options or {})
    opts = catalogue or CatalogueOptions()
    if catalogue is not None and is_gridded(path):
        default = CatalogueOptions()
        given = [name for name, value in catalogue.__dict__.items() if value != getattr(default, name)]
        if given:
            raise InputError(f"{path} is gridded shear, not a catalogue: the catalogue option(s) "
                             f"{', '.join(_flag(n) for n in given)} do not apply to it")
    check_number(opts.pixel_arcmin, "--pixel-arcmin", low=0.0, low_open=True, high=600.0, unit="arcmin")
    if opts.size is not None:
        check_number(opts.size, "--size", low=MIN_MAP_SIZE, unit="pixels")
        check_map_size_memory(opts.size)
    if opts.center is not None:
        ra, dec = opts.center
        check_number(ra, "--center RA", low=-180.0, high=360.0, unit="degrees")
        check_number(dec, "--center Dec", low=-90.0, high=90.0, unit="degrees")
    check_number(opts.shape_noise_sigma, "--shape-noise-sigma", low=0.0, high=1.0, low_open=True, high_open=True)
    check_number(noise_realisations, "--noise-realisations", low=0, high=MAX_NOISE_REALISATIONS,
                 unit="realisations, each a whole reconstruction (20 to 100 are plenty)")
    check_size_options(options or {}, side=opts.size or MIN_MAP_SIZE)  # before reading: the map's own side later
    if noise_realisations == 1:
        raise InputError("--noise-realisations 1 cannot estimate a standard deviation: give 0 (none) or at "
                         "least 2 (20 or more for a trustworthy SIGMA_NOISE and S/N)")
    if tile is not None:
        check_number(tile, "--tile", low=MIN_MAP_SIZE, unit="pixels")
        check_number(tile_overlap, "--tile-overlap", low=0, high=tile - 1, unit="pixels (less than --tile)")
    else:
        check_number(tile_overlap, "--tile-overlap", low=0, unit="pixels")


def check_size_options(options: dict, *, side: int, pixel_arcmin: float | None = None) -> None:
    """Refuse method options that size an allocation beyond reason (InputError): a ``pad_pixels`` margin
    whose padded grid (``side + 2 pad_pixels`` a side) would not fit in memory, and with the map's pixel
    known a Gaussian ``smooth_arcmin`` wider than the whole map (it smooths the map to its mean, and its
    kernel of 8 sigma would be allocated in pixels)."""
    from miu2net.validate import check_map_size_memory, largest_map_side

    pad = options.get("pad_pixels")
    if isinstance(pad, int) and not isinstance(pad, bool) and pad > 0:
        largest = max((largest_map_side() - side) // 2, 0)
        check_map_size_memory(side + 2 * pad, flag=f"--option pad_pixels={pad}: the padded map side",
                              advice=f"give at most pad_pixels={largest} (the default margin is 26 arcmin)")
    smooth = options.get("smooth_arcmin")
    if pixel_arcmin is not None and isinstance(smooth, (int, float)) and not isinstance(smooth, bool):
        extent = side * float(pixel_arcmin)
        if smooth > extent:
            raise InputError(f"--smooth / smooth_arcmin {smooth:g} arcmin is wider than the whole map ({side} pixels "
                             f"of {pixel_arcmin:g}' = {extent:.4g}'): it would smooth the map to its mean; give at "
                             f"most {extent:.4g} arcmin (a few arcmin is usual)")


def _flag(option: str) -> str:
    """The CLI flag of a :class:`CatalogueOptions` field."""
    return {"columns": "--ra-col/--dec-col/--e1-col/...", "cuts": "--cut"}.get(option, "--" + option.replace("_", "-"))


def explain_auto_fallback(reason: str, shear: ShearMap) -> str:
    """``auto``'s reason for not using the shipped network, with what would make the input fit it:
    for a catalogue the ``--pixel-arcmin`` and ``--size`` to grid it at, for gridded shear the pixel
    and map size it needs; an override (``allow_mismatch``) is not offered as the fix (``_auto_choice``
    words the reason without it)."""
    trained = get_method("miu2net").model({}, shear)  # the shipped model for this pixel (cached)
    ty, tx = trained.map_size
    pixel, side = trained.pixel_arcmin, max(ty, tx)
    fits_pixel = abs(shear.pixel_arcmin / pixel - 1.0) < 1e-3
    embed = trained.embed_fraction
    fits_size = min(shear.shape) >= side if embed is None else min(shear.shape) >= trained.min_embedded_side
    if fits_pixel and fits_size:
        return reason.rstrip(". ") + " (no gridding option changes this)"
    if "n_galaxies_in_map" in shear.meta:
        wanted = [f"--pixel-arcmin {pixel:g}"] if not fits_pixel else []
        wanted += [f"--size {side}"] if not fits_size or not fits_pixel else []
        return f"{reason.rstrip('. ')}; to use it, grid the catalogue with {' '.join(wanted)} (or larger --size)"
    hint = "" if "bins them" in reason else " (finer pixels: --method miu2net bins them)"
    return f"{reason.rstrip('. ')}; to use it, give shear on {pixel:g}' pixels, at least {ty}x{tx} of them{hint}"


def _provenance(catalogue: CatalogueOptions | None, n_noise: int, tile: int | None, overlap: int) -> dict:
    extra = {}
    if n_noise:
        extra["noise_realisations"] = n_noise
    if tile is not None:
        extra["tile"], extra["tile_overlap"] = tile, overlap
    if catalogue is not None:
        extra.update({k: v for k, v in catalogue.__dict__.items() if v not in (None, False, [], {})})
    return extra
