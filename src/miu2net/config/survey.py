r"""Survey and simulation configuration: pydantic models, presets, YAML/TOML files.

The configuration layer is separate from the physics: these models hold numbers and
choices, validate them at construction and know nothing of arrays. A full configuration is a
:class:`Config` with a ``survey`` (:class:`SurveyConfig`) and a ``sim`` (:class:`SimConfig`) section;
the training options are :class:`miu2net.config.train.TrainConfig`.

Units. Angles in arcmin (``pixel_arcmin``, mask sizes), source density per arcmin², halo masses in
:math:`M_\odot` (no :math:`h`) in the chosen spherical-overdensity definition, physical Mpc for the
separation of merging pairs. ``shape_noise_sigma`` is the rms of the *total* intrinsic ellipticity
:math:`\sigma_e` (per component :math:`\sigma_e/\sqrt2`), as in :mod:`miu2net.physics.shear`.

Impossible combinations (a masked-fraction range that is not a range, a concentration relation not
defined for the mass definition, halos behind the sources, nothing to simulate...) raise a
``pydantic.ValidationError`` (a ``ValueError``) at construction, naming the options and the fix.
:func:`load_config` turns any problem with a file into :class:`miu2net.errors.InputError`.

File format (YAML or TOML), every key optional::

    preset: csst            # start from a preset (default csst), then override:
    survey:
      n_gal_arcmin2: 30
      mask: {masked_fraction: [0.1, 0.25]}
    sim:
      field: lognormal
      halos: {mass_min: 2.0e14}
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from miu2net.config.base import FrozenModel, check_range, format_errors, read_config_file
from miu2net.errors import InputError

# Which pyccl mass functions and concentration-mass relations are defined for which mass definition
# (checked against pyccl in tests/sims/test_halos.py). Names are the pyccl class names without prefix.
MASS_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "tinker08": ("200c", "200m", "vir"),
    "tinker10": ("200c", "200m", "vir"),
    "despali16": ("200c", "200m", "vir"),
    "watson13": ("200c", "200m"),
    "bocquet16": ("200c", "200m"),
}
CONCENTRATIONS: dict[str, tuple[str, ...]] = {
    "duffy08": ("200c", "200m", "vir"),
    "bhattacharya13": ("200c", "200m", "vir"),
    "diemer15": ("200c",),
    "prada12": ("200c",),
    "ishiyama21": ("200c", "vir"),
    "klypin11": ("vir",),
}

MassFunctionName = Literal["tinker08", "tinker10", "despali16", "watson13", "bocquet16"]
ConcentrationName = Literal["duffy08", "bhattacharya13", "diemer15", "prada12", "ishiyama21", "klypin11"]


class SmailNz(FrozenModel):
    r"""Source redshift distribution :math:`n(z) \propto z^\alpha \exp[-(z/z_0)^\beta]` (Smail et al. 1994).

    :math:`z_0` follows from ``z_median`` (see :func:`miu2net.physics.cosmology.smail_nz`); the
    distribution is tabulated on ``n_points`` redshifts in ``(0, z_max]``.
    """

    z_median: float = Field(0.9, gt=0)
    alpha: float = Field(2.0, gt=0)
    beta: float = Field(1.5, gt=0)
    z_max: float = Field(4.0, gt=0)
    n_points: int = Field(200, ge=20)

    @model_validator(mode="after")
    def _check(self) -> SmailNz:
        if self.z_max <= self.z_median:
            raise ValueError(f"nz.z_max ({self.z_max}) must exceed nz.z_median ({self.z_median})")
        return self


class MaskConfig(FrozenModel):
    """Survey mask: bright-star holes (power-law radii), CCD-gap stripes and an irregular edge.

    Each sample's target masked fraction is drawn uniformly in ``masked_fraction``; see
    :func:`miu2net.physics.masks.survey_mask` for the generator and the meaning of the sizes (arcmin).
    ``enabled = False`` observes every pixel (empty pixels of Poisson noise are still masked).
    """

    enabled: bool = True
    masked_fraction: tuple[float, float] = (0.10, 0.25)
    star_r_min_arcmin: float = Field(0.2, gt=0)
    star_r_max_arcmin: float = Field(2.5, gt=0)
    star_slope: float = 2.5
    ccd_gaps: bool = True
    ccd_spacing_arcmin: float = Field(13.0, gt=0)
    ccd_width_arcmin: float = Field(0.4, gt=0)
    edge: bool = True
    edge_depth_arcmin: float = Field(3.0, ge=0)

    @model_validator(mode="after")
    def _check(self) -> MaskConfig:
        check_range("mask.masked_fraction", self.masked_fraction, 0.0, 1.0, open_hi=True)
        if self.star_r_min_arcmin > self.star_r_max_arcmin:
            raise ValueError(
                f"mask.star_r_min_arcmin ({self.star_r_min_arcmin}) exceeds mask.star_r_max_arcmin "
                f"({self.star_r_max_arcmin})"
            )
        return self


#: The default survey (preset ``csst``), as in the MIU2Net paper: 50 sources per arcmin², total intrinsic
#: ellipticity rms 0.4, one source plane at z = 1, 256² pixels of 0.41′ (1.75°). The one place these
#: numbers are written; the presets, the methods' defaults and the catalogue gridding take them from here.
CSST: dict = {"name": "csst", "n_gal_arcmin2": 50.0, "shape_noise_sigma": 0.4, "z_source": 1.0,
              "pixel_arcmin": 0.41, "map_size": 256}


class SurveyConfig(FrozenModel):
    r"""What a survey observes: source density and redshifts, shape noise, pixel grid, mask, noise model.

    Attributes:
        name: label (the preset's name by default).
        n_gal_arcmin2: effective source density per arcmin².
        shape_noise_sigma: total intrinsic ellipticity rms :math:`\sigma_e` (per component
            :math:`\sigma_e/\sqrt2`).
        z_source: redshift of a single source plane; give this or ``nz``, not both.
        nz: a Smail-type n(z) instead of a single plane.
        pixel_arcmin: pixel side in arcmin.
        map_size: pixels per side (maps are square).
        noise_model: ``gaussian``: per-pixel Gaussian noise of std
            :math:`(\sigma_e/\sqrt2)/\sqrt{n_{\rm gal} A_{\rm pix}}` everywhere; ``poisson``: the number of
            galaxies per pixel is Poisson with mean :math:`n_{\rm gal} A_{\rm pix}`, the noise std is
            :math:`\sigma_e/\sqrt{2N}` and empty pixels are masked.
        mask: mask settings.
    """

    name: str = CSST["name"]
    n_gal_arcmin2: float = Field(CSST["n_gal_arcmin2"], gt=0)
    shape_noise_sigma: float = Field(CSST["shape_noise_sigma"], ge=0, lt=1)
    z_source: float | None = Field(CSST["z_source"], gt=0)
    nz: SmailNz | None = None
    pixel_arcmin: float = Field(CSST["pixel_arcmin"], gt=0)
    map_size: int = Field(CSST["map_size"], ge=16)
    noise_model: Literal["gaussian", "poisson"] = "gaussian"
    mask: MaskConfig = MaskConfig()

    @model_validator(mode="before")
    @classmethod
    def _nz_replaces_plane(cls, data: Any) -> Any:
        # Giving nz without z_source means "not a single plane" (z_source has a default of 1.0).
        if isinstance(data, dict) and data.get("nz") is not None and "z_source" not in data:
            data = {**data, "z_source": None}
        return data

    @model_validator(mode="after")
    def _check(self) -> SurveyConfig:
        if (self.z_source is None) == (self.nz is None):
            raise ValueError(
                "give exactly one of survey.z_source (a single source plane) and survey.nz (a redshift "
                f"distribution); got z_source={self.z_source}, nz={'set' if self.nz else None}"
            )
        if self.noise_model == "poisson" and self.mask.enabled:
            mean_count = self.n_gal_arcmin2 * self.pixel_arcmin**2
            empty = math.exp(-mean_count)
            if empty >= self.mask.masked_fraction[1]:
                raise ValueError(
                    f"survey.noise_model='poisson' with survey.n_gal_arcmin2={self.n_gal_arcmin2} and "
                    f"survey.pixel_arcmin={self.pixel_arcmin} leaves {empty:.0%} of pixels empty (masked), "
                    f"more than mask.masked_fraction allows ({self.mask.masked_fraction[1]}); use larger "
                    "pixels, noise_model='gaussian' or a wider masked-fraction range"
                )
        return self

    @property
    def z_source_max(self) -> float:
        """The largest source redshift (the plane, or the top of the n(z) table)."""
        return float(self.z_source) if self.z_source is not None else float(self.nz.z_max)

    @property
    def field_arcmin(self) -> float:
        """Side of the map in arcmin."""
        return self.map_size * self.pixel_arcmin


class HaloConfig(FrozenModel):
    r"""A Poisson population of NFW halos in the light cone, with merging pairs.

    Attributes:
        enabled: paint halos at all.
        mass_min, mass_max: mass range in :math:`M_\odot` (no h), in ``mass_definition``.
        z_min: lowest halo redshift; z_max: highest (None: up to the sources, ``survey.z_source_max``).
        mass_definition: ``200c`` (200 times the critical density, default), ``200m`` or ``vir``.
        mass_function: pyccl mass function (``tinker08`` = Tinker et al. 2008, default).
        concentration: pyccl concentration-mass relation (``duffy08`` = Duffy et al. 2008, default).
        truncated: Baltz, Marshall & Oguri (2009) truncation
            :math:`\rho \to \rho\,\tau^2/(\tau^2 + (r/r_s)^2)`; False paints the untruncated NFW of
            Wright & Brainerd (2000) out to ``paint_radius``.
        truncation_factor: truncation radius in units of :math:`r_\Delta`, so
            :math:`\tau = r_t/r_s = {\rm truncation\_factor}\times c`.
        paint_radius: halos are painted out to this many :math:`r_\Delta` (the profile is set to
            zero beyond).
        subpixel: sub-samples per pixel side for the pixel-integrated profile (the pixels around the
            centre use at least 32).
        pair_fraction: fraction of halos given a companion (a merging pair) at the same redshift.
        pair_separation_mpc: range of the projected separation of a pair, physical Mpc.
        pair_mass_ratio: range of the companion's mass over its primary's.
        compensate: subtract the box mean of the halo layer, so that the halos do not change the
            mean convergence (the mass they hold is taken uniformly from elsewhere).
        n_z, n_mass: size of the (z, log M) grid on which the population is tabulated.
    """

    enabled: bool = True
    mass_min: float = Field(1e14, gt=0)
    mass_max: float = Field(3e15, gt=0)
    z_min: float = Field(0.02, gt=0)
    z_max: float | None = Field(None, gt=0)
    mass_definition: Literal["200c", "200m", "vir"] = "200c"
    mass_function: MassFunctionName = "tinker08"
    concentration: ConcentrationName = "duffy08"
    truncated: bool = True
    truncation_factor: float = Field(2.0, gt=0)
    paint_radius: float = Field(4.0, gt=0)
    subpixel: int = Field(4, ge=1, le=64)
    pair_fraction: float = Field(0.1, ge=0, le=1)
    pair_separation_mpc: tuple[float, float] = (0.3, 1.5)
    pair_mass_ratio: tuple[float, float] = (0.2, 1.0)
    compensate: bool = True
    n_z: int = Field(48, ge=8)
    n_mass: int = Field(48, ge=8)

    @model_validator(mode="after")
    def _check(self) -> HaloConfig:
        if self.mass_min >= self.mass_max:
            raise ValueError(f"halos.mass_min ({self.mass_min:g}) must be below halos.mass_max ({self.mass_max:g})")
        if self.z_max is not None and self.z_max <= self.z_min:
            raise ValueError(f"halos.z_max ({self.z_max}) must exceed halos.z_min ({self.z_min})")
        if self.mass_definition not in MASS_FUNCTIONS[self.mass_function]:
            raise ValueError(
                f"halos.mass_function={self.mass_function!r} is not defined for "
                f"halos.mass_definition={self.mass_definition!r}; it supports "
                f"{', '.join(MASS_FUNCTIONS[self.mass_function])}"
            )
        if self.mass_definition not in CONCENTRATIONS[self.concentration]:
            ok = [k for k, v in CONCENTRATIONS.items() if self.mass_definition in v]
            raise ValueError(
                f"halos.concentration={self.concentration!r} is not defined for "
                f"halos.mass_definition={self.mass_definition!r}; choose one of {', '.join(ok)}"
            )
        check_range("halos.pair_separation_mpc", self.pair_separation_mpc, 0.0, math.inf)
        check_range("halos.pair_mass_ratio", self.pair_mass_ratio, 0.0, 1.0)
        if self.pair_mass_ratio[0] <= 0:
            raise ValueError("halos.pair_mass_ratio must be > 0")
        if self.truncated and self.paint_radius < self.truncation_factor:
            raise ValueError(
                f"halos.paint_radius ({self.paint_radius} r_Delta) is inside the truncation radius "
                f"(halos.truncation_factor = {self.truncation_factor} r_Delta); paint at least to r_t"
            )
        return self


class NBodyConfig(FrozenModel):
    r"""The N-body truth (``sim.truth = "nbody"``): particle-mesh simulations cut into lens planes.

    See :mod:`miu2net.sims.nbody` (the simulation) and :mod:`miu2net.sims.lightcone` (maps from planes).

    Attributes:
        box_mpc_h: periodic box side, comoving Mpc/h; also the thickness of a lens slab.
        n_mesh: particles and PM cells per side (one particle per cell).
        plane_pixels: pixels per side of a stored lens plane (a power of two).
        fixed_amplitude: initial Fourier modes of modulus :math:`\\sqrt{P(k)}` with random phases (Angulo &
            Pontzen 2016); False draws Gaussian amplitudes.
        slabs_per_snapshot: consecutive lens slabs that share one snapshot (module docstring of
            :mod:`miu2net.sims.nbody`).
        a_start: scale factor of the second-order LPT initial conditions.
        max_dlna: largest leapfrog step in :math:`\ln a`.
        pgd: sharpen each snapshot by potential gradient descent (Dai, Feng & Seljak 2018), its strength
            fitted so that the particles' power at 1-2.5 h/Mpc matches halofit
            (:func:`miu2net.sims.nbody.pgd_sharpen`).
        restore: ``nfw`` moves the members of every friends-of-friends halo inside :math:`R_{200m}` onto an
            NFW profile (Duffy et al. 2008 concentrations) to restore the small scales a mesh loses;
            ``none`` keeps the particle-mesh halos.
        min_halo_particles: smallest halo restored, in particles.
        cosmology_spread: :math:`\Omega_m` and :math:`\sigma_8` of each simulation are drawn uniformly within
            this fraction of Planck 2018.
        clusters_above: clusters of :math:`M_{200c}` above this (Msun, no h) are added to every map from the halo
            model (Poisson in the light cone, Tinker et al. 2008 mass function, BMO-truncated NFW with Duffy et al.
            2008 concentrations, compensated; :class:`HaloConfig`'s other settings): a small box holds
            too few of them (it lacks the long modes that make them); None adds none.
        seed: base seed of the simulation pools (not ``sim.seed``: datasets of any seed share the bank, and
            a test set's simulations stay apart from a training set's whatever their sample seeds).
        n_simulations: simulations that training and validation maps are drawn from.
        n_test_simulations: simulations, never used by training or validation, that test maps come from.
        bank: folder of the plane bank; None: ``$MIU2NET_NBODY_BANK`` or ``~/.cache/miu2net/nbody``.
    """

    box_mpc_h: float = Field(64.0, ge=8.0, le=4000.0)
    n_mesh: int = Field(128, ge=16, le=1024)
    plane_pixels: int = Field(1024, ge=32, le=8192)
    fixed_amplitude: bool = True
    slabs_per_snapshot: int = Field(2, ge=1, le=8)
    a_start: float = Field(0.1, gt=0.0, lt=0.5)
    max_dlna: float = Field(0.05, gt=0.0, le=0.5)
    pgd: bool = True
    restore: Literal["nfw", "none"] = "nfw"
    min_halo_particles: int = Field(20, ge=5)
    cosmology_spread: float = Field(0.1, ge=0.0, le=0.5)
    clusters_above: float | None = Field(3e14, gt=0)
    seed: int = Field(0, ge=0)
    n_simulations: int = Field(2, ge=1, le=10000)
    n_test_simulations: int = Field(2, ge=1, le=10000)
    bank: str | None = None

    @model_validator(mode="after")
    def _check(self) -> NBodyConfig:
        if self.plane_pixels & (self.plane_pixels - 1):
            raise ValueError(f"sim.nbody.plane_pixels must be a power of two; got {self.plane_pixels}")
        return self


class SimConfig(FrozenModel):
    r"""How the truth is simulated and how many samples a dataset holds.

    Attributes:
        truth: ``halo_model`` (the field and halos below) or ``nbody`` (maps drawn from the lens planes of
            particle-mesh simulations, :class:`NBodyConfig`; ``field`` and ``halos`` are then unused).
        nbody: the N-body truth's settings.
        field: the large-scale structure: ``gaussian`` or ``lognormal`` random field with the
            pyccl :math:`C_\ell^{\kappa\kappa}`, or ``none`` (halos only).
        cl_model: ``nonlinear`` (Halofit, default) or ``linear`` matter power for :math:`C_\ell`.
        lognormal_shift: shift :math:`\lambda` of the lognormal field
            :math:`\kappa = \lambda[\exp(G - \sigma_G^2/2) - 1] \ge -\lambda`; None takes the
            empty-beam convergence :math:`|\kappa_{\rm empty}|` of the survey's sources.
        halos: the halo population.
        subtract_halo_power: when halos are painted, draw the field with :math:`C_\ell - C^{1h}_\ell W^2_{\rm pix}`
            (the halos' own power, see :meth:`miu2net.sims.halos.HaloPopulation.one_halo_cl`), so that
            field plus halos has the pyccl spectrum; False adds the halos on top of the full
            :math:`C_\ell`, which counts the clusters twice (non-linear :math:`C_\ell` already holds them).
        box_factor: the truth is drawn on a box this many times larger per side and the map cut
            from its centre (2 or more: the box is periodic and the map's shear is not; 1: the map
            alone, its shear computed with zero padding).
        seed: base seed; sample seeds are derived from it (see :mod:`miu2net.sims.dataset`).
        n_samples: training plus validation samples, split ``train_val_ratio`` : 1.
        train_val_ratio: 5 by default (5:1).
        n_test: held-out test samples (their own seeds).
        cosmology: the cosmology (only ``planck18`` for now).
    """

    truth: Literal["halo_model", "nbody"] = "halo_model"
    nbody: NBodyConfig = NBodyConfig()
    field: Literal["gaussian", "lognormal", "none"] = "gaussian"
    cl_model: Literal["nonlinear", "linear"] = "nonlinear"
    lognormal_shift: float | None = Field(None, gt=0)
    halos: HaloConfig = HaloConfig()
    subtract_halo_power: bool = True
    box_factor: int = Field(2, ge=1, le=8)
    seed: int = Field(0, ge=0)
    n_samples: int = Field(6000, ge=0)
    train_val_ratio: float = Field(5.0, gt=0)
    n_test: int = Field(1000, ge=0)
    cosmology: Literal["planck18"] = "planck18"

    @model_validator(mode="after")
    def _check(self) -> SimConfig:
        if self.field == "none" and not self.halos.enabled:
            raise ValueError("sim.field='none' with sim.halos.enabled=false simulates nothing; enable one of them")
        if self.lognormal_shift is not None and self.field != "lognormal":
            raise ValueError(f"sim.lognormal_shift is set but sim.field={self.field!r}; it applies to 'lognormal' only")
        return self

    @property
    def n_train(self) -> int:
        """Training samples: ``n_samples * r / (r + 1)`` rounded, r = ``train_val_ratio``."""
        return int(round(self.n_samples * self.train_val_ratio / (self.train_val_ratio + 1.0)))

    @property
    def n_val(self) -> int:
        return self.n_samples - self.n_train


class Config(FrozenModel):
    """A full configuration: the survey and the simulation (a ``train`` section is to come)."""

    preset: str | None = None
    survey: SurveyConfig = SurveyConfig()
    sim: SimConfig = SimConfig()

    @model_validator(mode="after")
    def _check(self) -> Config:
        halos = self.sim.halos
        z_s = self.survey.z_source_max
        if halos.enabled:
            if halos.z_min >= z_s:
                raise ValueError(f"halos.z_min ({halos.z_min}) must lie in front of the sources (z_source = {z_s})")
            if halos.z_max is not None and halos.z_max > z_s:
                raise ValueError(
                    f"halos.z_max ({halos.z_max}) lies behind the sources (survey z_source up to {z_s}); "
                    "lower it or leave it unset"
                )
        return self

    def to_dict(self) -> dict:
        """Plain JSON-able dict (tuples as lists), as written to files and to dataset attributes."""
        return self.model_dump(mode="json")

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def updated(self, **sections: dict) -> Config:
        """A copy with ``survey`` / ``sim`` entries overridden (nested dicts merged), validated."""
        return Config.model_validate(_merge(self.to_dict(), sections))


# ---- presets -----------------------------------------------------------------------------------

_CSST: dict = {"survey": dict(CSST)}
PRESETS: dict[str, dict] = {
    # MIU2Net paper set-up: 50 / arcmin², sigma_e = 0.4, z_s = 1, 256² pixels of 0.41' (1.75 deg).
    "csst": _CSST,
    # The same field on a CPU-sized grid: 128² pixels of 0.82'.
    "csst-small": {"survey": {**_CSST["survey"], "name": "csst-small", "pixel_arcmin": 0.82,
                            "map_size": 128}},
    # Euclid wide (IST:F, Euclid Collaboration: Blanchard et al. 2020): 30 / arcmin², sigma = 0.3 per
    # component, n(z) ~ z^2 exp[-(z/z0)^1.5] with median 0.9.
    "euclid": {"survey": {"name": "euclid", "n_gal_arcmin2": 30.0, "shape_noise_sigma": round(0.3 * math.sqrt(2), 4),
                          "z_source": None, "nz": {"z_median": 0.9, "alpha": 2.0, "beta": 1.5, "z_max": 3.5},
                          "pixel_arcmin": 0.41, "map_size": 256}},
    # LSST Y10 (DESC SRD, Mandelbaum et al. 2018): 27 / arcmin², 0.26 per component,
    # n(z) ~ z^2 exp[-(z/0.11)^0.68] (median 0.87).
    "lsst": {"survey": {"name": "lsst", "n_gal_arcmin2": 27.0, "shape_noise_sigma": round(0.26 * math.sqrt(2), 4),
                        "z_source": None, "nz": {"z_median": 0.87, "alpha": 2.0, "beta": 0.68, "z_max": 4.0},
                        "pixel_arcmin": 0.41, "map_size": 256}},
}
DEFAULT_PRESET = "csst"


def _merge(base: dict, override: dict) -> dict:
    """Deep merge of plain dicts; ``override`` wins. An ``nz`` without ``z_source`` clears the plane."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            if value.get("nz") is not None and "z_source" not in value:
                out[key]["z_source"] = None
            if "z_source" in value and value["z_source"] is not None and "nz" not in value:
                out[key]["nz"] = None
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def preset(name: str = DEFAULT_PRESET) -> Config:
    """The named preset (``csst``, ``csst-small``, ``euclid``, ``lsst``) as a :class:`Config`."""
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return Config.model_validate(_merge({"preset": name}, PRESETS[name]))


def config_from_dict(data: dict, *, source: str = "configuration") -> Config:
    """Build a :class:`Config` from a plain dict (a preset named by ``preset`` and overrides)."""
    if not isinstance(data, dict):
        raise InputError(f"{source}: expected a mapping with 'survey' and/or 'sim' sections; got {type(data).__name__}")
    name = data.get("preset") or DEFAULT_PRESET
    if name not in PRESETS:
        raise InputError(f"{source}: unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    merged = _merge(_merge({"preset": name}, PRESETS[name]), {k: v for k, v in data.items() if k != "preset"})
    try:
        return Config.model_validate(merged)
    except ValidationError as exc:
        raise InputError(f"{source}: invalid configuration:\n{format_errors(exc)}") from None


def load_config(path: str | Path, *, default_preset: str = DEFAULT_PRESET) -> Config:
    """Read a configuration from a YAML (``.yaml``/``.yml``) or TOML (``.toml``) file.

    Keys left out take the values of the file's ``preset``, or of ``default_preset`` when the file
    names none. Raises :class:`InputError` for a missing or unreadable file, an unknown key or an
    impossible combination (the message names the options).
    """
    data = read_config_file(path)
    return config_from_dict({"preset": default_preset, **data}, source=str(path))


def save_config(config: Config, path: str | Path) -> Path:
    """Write a configuration as YAML or TOML (by suffix); :func:`load_config` reads it back equal."""
    path = Path(path)
    data = config.to_dict()
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    elif suffix == ".toml":
        path.write_text(_to_toml(data))
    else:
        raise InputError(f"{path}: unknown configuration format {suffix!r}; use .yaml, .yml or .toml")
    return path


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _to_toml(data: dict, prefix: str = "") -> str:
    """A small TOML writer for nested dicts of scalars and lists (None, which TOML lacks, is left out)."""
    lines, tables = [], []
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    out = ""
    if lines:
        out += (f"[{prefix}]\n" if prefix else "") + "\n".join(lines) + "\n\n"
    for key, value in tables:
        out += _to_toml(value, f"{prefix}.{key}" if prefix else key)
    return out
