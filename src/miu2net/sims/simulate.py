r"""One simulated training sample: truth convergence, shear, and the survey's view of it.

:func:`simulate_sample` is a pure function of ``(config, seed)``: the same pair gives the same bytes,
on any machine and in any process. Steps:

1. Truth on a box of ``sim.box_factor`` map sizes per side, same pixel: a Gaussian or shifted
   lognormal field with the pyccl :math:`C_\ell^{\kappa\kappa}` of the survey's sources
   (:mod:`miu2net.sims.fields`), plus a light-cone population of NFW halos painted pixel-integrated
   (:mod:`miu2net.sims.halos`), optionally compensated to zero mean. With halos on, the field is drawn
   by default with :math:`C_\ell - C^{1h}_\ell W^2_{\rm pix}`, the pyccl spectrum less the halos' own
   (1-halo) power, so that the sum has the pyccl spectrum and the clusters are not counted twice.
2. Shear :math:`\gamma = \gamma_1 + i\gamma_2` by the KS93 forward operator
   (:func:`miu2net.physics.operators.ks93_forward`): on the periodic box when ``box_factor >= 2`` (the
   map cut from its centre then has non-periodic shear that feels the mass outside it), with zero
   padding when ``box_factor = 1``. The central map is cut: ``kappa``, ``gamma1``, ``gamma2``.
3. Reduced shear :math:`g = \gamma/(1-\kappa)` (:func:`miu2net.physics.shear.reduced_shear`):
   ``g1_noiseless``, ``g2_noiseless``.
4. Mask (:func:`miu2net.physics.masks.survey_mask`, 1 observed / 0 masked) of a masked fraction drawn
   uniformly in ``survey.mask.masked_fraction``; shape noise per pixel and component, Gaussian of std
   :math:`\sigma = (\sigma_e/\sqrt2)/\sqrt{n_{\rm gal}A_{\rm pix}}`, or from Poisson galaxy counts
   :math:`N` with :math:`\sigma = \sigma_e/\sqrt{2N}` and empty pixels masked. ``g1``, ``g2`` are the
   noisy reduced shear, 0 in masked pixels; ``noise`` is :math:`\sigma` on observed pixels, 0 on
   masked ones; ``mask`` is 1/0.

All maps are ``[y, x]`` float32 of ``survey.map_size``² pixels of ``survey.pixel_arcmin``; shear
components are on the map's axes (docs/conventions.md). Four independent random streams are spawned from the
seed (field, halos, mask, noise), so switching one ingredient off leaves the others' realisations
unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from miu2net.config import Config, SurveyConfig
from miu2net.physics.cosmology import kappa_cl_interpolator, smail_nz
from miu2net.physics.fourier import ell_components, ell_grid
from miu2net.physics.masks import survey_mask
from miu2net.physics.operators import ks93_forward
from miu2net.physics.shear import add_pixel_noise, noise_from_counts, pixel_noise_sigma, reduced_shear
from miu2net.physics.units import ARCMIN_TO_RAD
from miu2net.sims.fields import (
    cl_on_grid,
    cut_center,
    draw_periodic,
    empty_beam_kappa,
    lognormal_gaussian_cl,
    lognormal_transform,
)
from miu2net.sims.halos import HaloCatalogue, halo_population, paint_halos

#: Map fields of a sample, in the order a dataset stores them.
MAP_FIELDS = ("kappa", "gamma1", "gamma2", "g1_noiseless", "g2_noiseless", "g1", "g2", "mask", "noise")


def source_nz(survey: SurveyConfig) -> tuple[np.ndarray, np.ndarray] | None:
    """The survey's tabulated n(z) ``(z, n)`` (unit integral), or None for a single source plane."""
    if survey.nz is None:
        return None
    p = survey.nz
    z = np.linspace(p.z_max / p.n_points, p.z_max, p.n_points)
    return z, smail_nz(z, z_median=p.z_median, alpha=p.alpha, beta=p.beta)


def cl_function(config: Config):
    r"""The configured :math:`C_\ell^{\kappa\kappa}` as a function of ell (inverse radians).

    :func:`miu2net.physics.cosmology.kappa_cl_interpolator` on 256 log-spaced ell in [10, 2e5]: linear
    in log-log, constant below ell = 10, NaN above the table.
    """
    survey = config.survey
    nz = source_nz(survey)
    return kappa_cl_interpolator(z_source=None if nz is not None else survey.z_source, nz=nz,
                                 nonlinear="halofit" if config.sim.cl_model == "nonlinear" else "linear",
                                 ell_range=(10.0, 2e5), n_ell=256, above="nan")


@dataclass(frozen=True)
class FieldModel:
    """What a configuration needs per sample, computed once per process."""

    box: tuple[int, int]
    amplitude: np.ndarray | None  # sqrt(C)/d of the Gaussian field (the lognormal's core)
    shift: float | None
    sigma_g2: float | None
    clipped: float


@lru_cache(maxsize=4)
def field_model(config_json: str) -> FieldModel:
    """The per-process cached field model of a configuration (its JSON, :meth:`Config.to_json`): the
    box, the Gaussian (or lognormal core) amplitude per Fourier mode, the lognormal shift."""
    config = Config.model_validate_json(config_json)
    survey, sim = config.survey, config.sim
    box = (survey.map_size * sim.box_factor,) * 2
    if sim.field == "none":
        return FieldModel(box, None, None, None, 0.0)
    d = survey.pixel_arcmin * ARCMIN_TO_RAD
    cl = field_cl_grid(config, box)
    if sim.field == "gaussian":
        return FieldModel(box, np.sqrt(cl) / d, None, None, 0.0)
    shift = lognormal_shift(config)
    cl_g, sigma_g2, clipped = lognormal_gaussian_cl(cl, survey.pixel_arcmin, shift)
    return FieldModel(box, np.sqrt(cl_g) / d, shift, sigma_g2, clipped)


def halo_cl_grid(config: Config, shape: tuple[int, int]) -> np.ndarray:
    r"""The painted halos' expected power on the FFT grid of ``shape``: :math:`C^{1h}_\ell W^2_{\rm pix}(\ell)`.

    :math:`W_{\rm pix} = \mathrm{sinc}(\ell_x\Delta/2\pi)\,\mathrm{sinc}(\ell_y\Delta/2\pi)` is the window of
    the pixel averaging that painting performs (aliasing neglected). Zero when halos are off.
    """
    survey = config.survey
    ell = ell_grid(shape, survey.pixel_arcmin)
    out = np.zeros_like(ell)
    if not config.sim.halos.enabled:
        return out
    d = survey.pixel_arcmin * ARCMIN_TO_RAD
    ly, lx = ell_components(shape, survey.pixel_arcmin)
    window2 = (np.sinc(ly[:, None] * d / (2 * np.pi)) * np.sinc(lx[None, :] * d / (2 * np.pi))) ** 2
    positive = ell > 0
    table_ell, table_cl = _one_halo_table(config)
    one_halo = np.exp(np.interp(np.log(ell[positive]), np.log(table_ell), np.log(table_cl)))
    out[positive] = one_halo * window2[positive]
    return out


def _one_halo_table(config: Config) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`C^{1h}_\ell` on 160 log-spaced ell in [1, 3e5] (interpolated log-log by callers)."""
    ell = np.geomspace(1.0, 3e5, 160)
    return ell, np.maximum(survey_halo_population(config).one_halo_cl(ell), 1e-300)


def field_cl_grid(config: Config, shape: tuple[int, int]) -> np.ndarray:
    r"""The power the random field is drawn with on the FFT grid of ``shape``.

    The pyccl :math:`C_\ell` (:func:`cl_function`), minus :func:`halo_cl_grid` when halos are painted and
    ``sim.subtract_halo_power`` (clipped at zero), so that field plus halos has the pyccl spectrum.
    """
    cl = cl_on_grid(shape, config.survey.pixel_arcmin, cl_function(config))
    if config.sim.subtract_halo_power and config.sim.halos.enabled:
        cl = np.clip(cl - halo_cl_grid(config, shape), 0.0, None)
    return cl


def lognormal_shift(config: Config) -> float:
    """The lognormal shift: ``sim.lognormal_shift``, or the empty-beam :math:`|\\kappa_{\\rm empty}|` of the sources."""
    if config.sim.lognormal_shift is not None:
        return float(config.sim.lognormal_shift)
    survey = config.survey
    return abs(empty_beam_kappa(z_source=survey.z_source, nz=source_nz(survey)))


def survey_halo_population(config: Config):
    """The halo population (:func:`miu2net.sims.halos.halo_population`) of a configuration's survey and halos."""
    halos = config.sim.halos
    survey = config.survey
    return halo_population(
        halos.model_dump_json(), survey.z_source, survey.nz.model_dump_json() if survey.nz is not None else None
    )


def _streams(seed: int) -> list[np.random.Generator]:
    """Independent generators for (field, halos, mask, noise), spawned from one seed."""
    if int(seed) < 0:
        raise ValueError(f"seeds must be >= 0; got {seed}")
    return [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(4)]


def truth_is_periodic(config: Config) -> bool:
    """Whether the truth box is periodic: the halo-model box with ``box_factor >= 2`` (N-body maps are not)."""
    return config.sim.truth != "nbody" and config.sim.box_factor >= 2


def simulate_truth(config: Config, seed: int, split: str = "train") -> tuple[np.ndarray, HaloCatalogue | None]:
    """The truth convergence on the whole box (``box_factor`` map sizes per side) and its halos.

    The box is periodic when :func:`truth_is_periodic` (halos wrap around its edges). For the N-body
    truth this is :func:`nbody_truth`'s map (no catalogue returned).
    """
    if config.sim.truth == "nbody":
        return nbody_truth(config, seed, split)[0], None
    rng_field, rng_halos, _, _ = _streams(seed)
    model = field_model(config.to_json())
    kappa = np.zeros(model.box)
    if model.amplitude is not None:
        gauss = draw_periodic(model.amplitude, rng_field)
        kappa = gauss if model.shift is None else lognormal_transform(gauss, model.shift, model.sigma_g2)
    catalogue = None
    halos = config.sim.halos
    if halos.enabled:
        catalogue = survey_halo_population(config).draw(rng_halos, model.box, config.survey.pixel_arcmin)
        layer = paint_halos(model.box, config.survey.pixel_arcmin, catalogue, subpixel=halos.subpixel,
                            periodic=config.sim.box_factor >= 2)
        if halos.compensate:
            layer -= layer.mean()
        kappa = kappa + layer
    return kappa, catalogue


@lru_cache(maxsize=16)
def _nbody_slab_weights(path: str, survey_json: str) -> tuple[np.ndarray, np.ndarray]:
    """Born weights and middle distances of a banked simulation's slabs for the survey's sources (cached)."""
    import pyccl as ccl

    from miu2net.physics.cosmology import cosmology
    from miu2net.sims.lightcone import slab_weights
    from miu2net.sims.nbody import scale_factor_at
    from miu2net.sims.plane_bank import cached_planes

    survey = SurveyConfig.model_validate_json(survey_json)
    params = cached_planes(path).cosmology
    z, n = source_nz(survey) or (np.array([survey.z_source]), np.array([1.0]))
    c = cosmology(params["Omega_m"], params["sigma8"])
    chi_source = ccl.comoving_radial_distance(c, 1.0 / (1.0 + z)) * params["h"]
    edges = cached_planes(path).chi_edges
    weights = slab_weights(edges, params["Omega_m"], lambda chi: scale_factor_at(params, chi), chi_source, n)
    return weights, 0.5 * (edges[:-1] + edges[1:])


def nbody_simulation_seeds(config: Config, split: str) -> list[int]:
    """The bank seeds of the simulations a split's maps come from (test: its own pool)."""
    from miu2net.sims.plane_bank import pool_seeds

    nb = config.sim.nbody
    return pool_seeds(nb.seed, nb.n_simulations, nb.n_test_simulations)["test" if split == "test" else "train"]


def nbody_truth(config: Config, seed: int, split: str = "train") -> tuple[np.ndarray, dict]:
    """An N-body truth box (``box_factor`` map sizes per side; not periodic) and its simulation's record.

    The sample's field stream picks one simulation of the split's pool (simulated into the bank first if
    missing) and draws the map from its planes (:func:`miu2net.sims.lightcone.born_kappa`); its halo
    stream adds the clusters above ``sim.nbody.clusters_above`` (``n_halos`` of them).
    """
    from miu2net.sims.lightcone import born_kappa
    from miu2net.sims.plane_bank import cached_planes, ensure_simulations

    survey = config.survey
    rng_field = _streams(seed)[0]
    pool = nbody_simulation_seeds(config, split)
    sim_seed = pool[int(rng_field.integers(len(pool)))]
    path = str(ensure_simulations(config.sim.nbody, survey.z_source_max, [sim_seed])[0])
    planes = cached_planes(path)
    weights, chi_mid = _nbody_slab_weights(path, survey.model_dump_json())
    n_box = survey.map_size * config.sim.box_factor
    kappa, _ = born_kappa(planes.planes, weights, chi_mid, planes.box_mpc_h, n_box, survey.pixel_arcmin, rng_field,
                          planes.slab_snapshot)
    n_clusters = 0
    if config.sim.nbody.clusters_above is not None:
        cfg = config.updated(sim={"halos": {"enabled": True, "mass_min": config.sim.nbody.clusters_above,
                                            "compensate": True}})
        catalogue = survey_halo_population(cfg).draw(_streams(seed)[1], kappa.shape, survey.pixel_arcmin)
        layer = paint_halos(kappa.shape, survey.pixel_arcmin, catalogue, subpixel=cfg.sim.halos.subpixel,
                            periodic=False)
        kappa = kappa + layer - layer.mean()
        n_clusters = len(catalogue)
    return kappa, {"simulation": int(sim_seed), "omega_m": planes.cosmology["Omega_m"],
                   "sigma8": planes.cosmology["sigma8"], "n_halos": n_clusters}


def _draw_mask(survey: SurveyConfig, rng: np.random.Generator) -> np.ndarray:
    shape = (survey.map_size, survey.map_size)
    m = survey.mask
    if not m.enabled or m.masked_fraction[1] == 0:
        return np.ones(shape)
    lo, hi = m.masked_fraction
    for _ in range(20):  # the generator can overshoot its target by about one hole: redraw then
        mask = survey_mask(
            shape, rng, target_fraction=rng.uniform(lo, hi), pixel_arcmin=survey.pixel_arcmin,
            star_r_min_arcmin=m.star_r_min_arcmin, star_r_max_arcmin=m.star_r_max_arcmin, star_slope=m.star_slope,
            ccd_spacing_arcmin=m.ccd_spacing_arcmin, ccd_width_arcmin=m.ccd_width_arcmin,
            edge_depth_arcmin=m.edge_depth_arcmin, ccd_gaps_on=m.ccd_gaps, edge_on=m.edge,
        )
        if lo <= 1.0 - mask.mean() <= hi:
            break
    return mask


def apply_survey(
    kappa: np.ndarray,
    config: Config,
    seed: int,
    *,
    periodic: bool,
    observed: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Shear, reduced shear, mask and noise of the survey for a truth map (steps 2-4 of the module docstring).

    Args:
        kappa: truth convergence ``[y, x]``, at least ``survey.map_size`` per side; the central map is cut
            after the shear is computed on the whole of it.
        config: the configuration (survey section used).
        seed: sample seed (its mask and noise streams are used).
        periodic: ``kappa`` is a periodic box (shear by a periodic FFT) rather than a patch of sky
            (zero padding).
        observed: optional map-sized 1/0 map of pixels that hold data (e.g. 0 where a user map was
            padded); combined with the survey mask.

    Returns:
        dict of float32 maps, keys :data:`MAP_FIELDS`.
    """
    survey = config.survey
    _, _, rng_mask, rng_noise = _streams(seed)
    shape = (survey.map_size, survey.map_size)
    if kappa.shape[0] < shape[0] or kappa.shape[1] < shape[1]:
        raise ValueError(f"kappa of shape {kappa.shape} is smaller than the map ({shape})")
    gamma1_box, gamma2_box = ks93_forward(kappa, pad=not periodic)
    kappa_map = cut_center(kappa, shape)
    gamma1, gamma2 = cut_center(gamma1_box, shape), cut_center(gamma2_box, shape)
    g1, g2 = reduced_shear(gamma1, gamma2, kappa_map)
    mask = _draw_mask(survey, rng_mask)
    if observed is not None:
        mask = mask * (np.asarray(observed) > 0)
    if survey.noise_model == "gaussian":
        sigma = np.full(shape, pixel_noise_sigma(shape_noise_sigma=survey.shape_noise_sigma,
                                                 n_gal_arcmin2=survey.n_gal_arcmin2, pixel_arcmin=survey.pixel_arcmin))
    else:
        counts = rng_noise.poisson(survey.n_gal_arcmin2 * survey.pixel_arcmin**2, size=shape)
        sigma = noise_from_counts(counts, shape_noise_sigma=survey.shape_noise_sigma)
        mask = mask * (counts > 0)
    n1, n2 = add_pixel_noise(rng_noise, g1, g2, sigma)
    observed_px = mask > 0
    maps = {
        "kappa": kappa_map,
        "gamma1": gamma1,
        "gamma2": gamma2,
        "g1_noiseless": g1,
        "g2_noiseless": g2,
        "g1": np.where(observed_px, n1, 0.0),
        "g2": np.where(observed_px, n2, 0.0),
        "mask": observed_px.astype(np.float64),
        "noise": np.where(observed_px, sigma, 0.0),
    }
    return {k: np.ascontiguousarray(maps[k], dtype=np.float32) for k in MAP_FIELDS}


def simulate_sample_with_info(config: Config, seed: int, split: str = "train") -> tuple[dict[str, np.ndarray], dict]:
    """:func:`simulate_sample` plus a dict of scalars: ``n_halos`` (in the box), ``masked_fraction`` and,
    for the N-body truth, ``simulation`` (its bank seed), ``omega_m`` and ``sigma8``.

    ``split`` matters for the N-body truth only: test maps come from their own simulations.
    """
    if config.sim.truth == "nbody":
        kappa_box, record = nbody_truth(config, seed, split)
        maps = apply_survey(kappa_box, config, seed, periodic=False)
        return maps, {"masked_fraction": float(1.0 - maps["mask"].mean()), **record}
    kappa_box, catalogue = simulate_truth(config, seed)
    maps = apply_survey(kappa_box, config, seed, periodic=truth_is_periodic(config))
    info = {
        "n_halos": 0 if catalogue is None else len(catalogue),
        "masked_fraction": float(1.0 - maps["mask"].mean()),
    }
    return maps, info


def simulate_sample(config: Config, seed: int, split: str = "train") -> dict[str, np.ndarray]:
    """One sample for ``config`` and ``seed`` (deterministic): a dict of float32 maps ``[y, x]``.

    Keys (:data:`MAP_FIELDS`): ``kappa`` (truth), ``gamma1``, ``gamma2`` (shear), ``g1_noiseless``,
    ``g2_noiseless`` (reduced shear), ``g1``, ``g2`` (noisy reduced shear, 0 where masked), ``mask``
    (1 observed, 0 masked) and ``noise`` (per-component noise std, 0 where masked). See the module
    docstring for the steps and conventions.
    """
    return simulate_sample_with_info(config, seed, split)[0]
