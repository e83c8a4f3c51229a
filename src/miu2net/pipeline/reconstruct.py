"""The reconstruct journey run in order: read, choose, bind the method, reconstruct (tiled when asked),
then the noise-only error maps; and the survey's numbers as the methods' defaults."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from miu2net.errors import DataConsistencyWarning
from miu2net.maps import KappaMap, ShearMap, bin_shear
from miu2net.methods import Method, get_method
from miu2net.methods import reconstruct as run_method
from miu2net.physics.consistency import chi2_per_dof
from miu2net.pipeline.auto import AUTO, _auto_choice
from miu2net.pipeline.checks import check_size_options, validate_reconstruct_request
from miu2net.pipeline.load import CatalogueOptions, load_shear

if TYPE_CHECKING:
    from miu2net.config import SurveyConfig


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
    from miu2net.tiling import reconstruct_tiled

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


def _provenance(catalogue: CatalogueOptions | None, n_noise: int, tile: int | None, overlap: int) -> dict:
    extra = {}
    if n_noise:
        extra["noise_realisations"] = n_noise
    if tile is not None:
        extra["tile"], extra["tile_overlap"] = tile, overlap
    if catalogue is not None:
        extra.update({k: v for k, v in catalogue.__dict__.items() if v not in (None, False, [], {})})
    return extra
