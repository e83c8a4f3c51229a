r"""Maps simulated on the fly: every sample a new map, at a new survey depth (the stream that trains
and calibrates the networks; :mod:`miu2net.nn.streaming` serves it to PyTorch).

:class:`SimulationStream` is a map-style data set whose key is ``(epoch, index)``: the sample is a
pure function of ``(configuration, ranges, seed, epoch, index)``, computed when a DataLoader worker
asks for it, so a run never sees the same map twice and a rerun (or a resumed run) sees exactly the
same ones. Per sample:

1. A 63-bit sample seed and the survey draws come from ``numpy.random.SeedSequence([sim.seed, 3,
   seed, epoch, index])``; stream code 3 (4 for calibration streams, :data:`CALIBRATION_STREAM`) sits
   beside the store's split codes (train 0, val 1, test 2, :mod:`miu2net.sims.dataset`), so streamed
   maps are never the store's validation or test maps.
2. The depth :math:`n_{\rm gal}` is drawn log-uniformly in ``n_gal_arcmin2``, :math:`\sigma_e`
   uniformly in ``shape_noise_sigma``; the survey becomes Poisson (:math:`N \sim {\rm Poisson}(n_{\rm gal}
   A_{\rm pix})` galaxies per pixel, :math:`\sigma = \sigma_e/\sqrt{2N}`, empty pixels masked) with
   the survey mask's target fraction drawn uniformly in ``masked_fraction`` (inside
   :func:`miu2net.sims.simulate.apply_survey`).
3. The sample is made by the code path of ``miu2net simulate``:
   :func:`miu2net.sims.simulate.simulate_truth` with the *base* configuration (so its cached field
   model, C_ell grid and halo population, which do not depend on the depth, are computed once per
   worker process), then :func:`miu2net.sims.simulate.apply_survey` with the sample's survey.

With ``views_per_truth`` V > 1 the costly step, the truth box (its halos take about 0.15 s), is shared
by V consecutive samples: sample ``index`` views box ``index // V`` (seeded from ``(epoch, index // V)``)
after a random periodic shift of the whole box and a random one of its 8 symmetries (rotations by 90°
and flips of κ, with the shear then computed from the transformed κ, so spin-2 signs are right by
construction), with its own depth, shape noise, mask and noise (seeded from ``(epoch, index)``). The
box is twice the map per side, so views are different quarters of it seen from different angles
under different noise; the data-loader worker keeps the last box, so a batch of consecutive keys costs
one truth per V samples. V = 1 is the plain stream above, unchanged.

Mixture of skies (``mixture``). With weights over :data:`TRUTH_KINDS` (``nbody``: maps of the plane
bank's training simulations, whose cosmologies differ; ``halo_model``: Gaussian field plus NFW halos;
``gaussian``: the Gaussian field alone, with the full :math:`C_\ell`), each truth box draws its kind
from its own seed, and is simulated with the base configuration switched to that truth. Only periodic
kinds are shifted periodically; the N-body maps (patches of sky, not periodic) are windows of 3/4 of
their box side, moved by up to 1/8 of it, then rotated and reflected.

Outer masks (``outer_mask``: [min, max] observed fraction, with probability ``outer_mask_probability``
per sample). The sample's footprint becomes a random rectangle (aspect ratio up to 2) covering that
fraction of the map at a random position; everything outside is masked. This is how a footprint
smaller than the model's field is seen at inference (embedded in the field, the outside masked): the
shear inside still carries the lensing of the mass outside, as on the sky.

Whole-field Wiener map (``wiener``) and crops (``crop``). With ``wiener`` each simulated map gets
``kappa_wiener``, its Wiener map (:func:`miu2net.physics.wiener.wiener_kappa` with the survey's
pyccl :math:`C_\ell` and the map's own noise and mask), the input of networks that predict the
correction to it. With ``crop`` c, sample ``index`` is a random c² window (seeded from ``(epoch,
index)``) of map ``index // crops_per_map``, every field cut alike, ``kappa_wiener`` included: the map
is the survey's field and the window the network's tile, so that the tile's Wiener input carries the
scales of the whole field exactly as at inference. ``views_per_truth`` then counts maps, not windows.

Samples are the dicts of :data:`miu2net.sims.simulate.MAP_FIELDS` plus the scalars ``n_gal_arcmin2``,
``shape_noise_sigma`` and ``seed`` (0-d arrays). An integer key ``i`` means ``(0, i)``.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from miu2net.config import Config, StreamConfig
from miu2net.config.train import TRUTH_KINDS  # the truths a mixture stream draws from
from miu2net.errors import InputError
from miu2net.physics.wiener import signal_power, wiener_kappa
from miu2net.sims.simulate import apply_survey, simulate_truth, source_nz, truth_is_periodic

#: Seed-sequence code of training streams (the store's splits use 0, 1, 2).
TRAIN_STREAM = 3
#: Seed-sequence code of calibration streams (never the training stream, whatever the seeds).
CALIBRATION_STREAM = 4


def truth_config(config: Config, kind: str) -> Config:
    """``config`` with its truth switched to ``kind`` (:data:`TRUTH_KINDS`); ``gaussian`` is the halo-model
    truth without halos (the field then carries the whole C_ell)."""
    if kind == "nbody":
        return config.updated(sim={"truth": "nbody"})
    if kind == "halo_model":
        return config.updated(sim={"truth": "halo_model"})
    if kind == "gaussian":
        return config.updated(sim={"truth": "halo_model", "field": "gaussian", "halos": {"enabled": False}})
    raise InputError(f"unknown truth kind {kind!r}; choose one of {', '.join(TRUTH_KINDS)}")


def outer_footprint(shape: tuple[int, int], fraction: float, rng: np.random.Generator) -> np.ndarray:
    """1/0 map of a random rectangle covering about ``fraction`` of ``shape`` (aspect ratio up to 2, random
    position): the observed footprint of a field smaller than the map (module docstring)."""
    ny, nx = shape
    fraction = float(np.clip(fraction, 0.0, 1.0))
    aspect = float(np.exp(rng.uniform(-np.log(2.0), np.log(2.0))))
    h = int(round(min(ny, max(1.0, np.sqrt(fraction * ny * nx * aspect)))))
    w = int(round(min(nx, max(1.0, fraction * ny * nx / h))))
    h = int(round(min(ny, max(1.0, fraction * ny * nx / w))))  # again, where the width was clipped
    y0 = int(rng.integers(0, ny - h + 1))
    x0 = int(rng.integers(0, nx - w + 1))
    out = np.zeros(shape)
    out[y0:y0 + h, x0:x0 + w] = 1.0
    return out


class SimulationStream:
    """Samples simulated on demand with a random survey depth each (module docstring).

    Args:
        config: survey geometry (pixel, map size, sources) and simulation (field, halos, box); its
            depth, shape noise, noise model and mask range are replaced per sample.
        n_gal_arcmin2: [min, max] of the log-uniform source density, per arcmin².
        shape_noise_sigma: [min, max] of the uniform total ellipticity rms.
        masked_fraction: [min, max] of the survey mask's target fraction (0, 0: no survey mask; empty
            pixels are still masked).
        length: samples per epoch (``len()``; keys beyond it are allowed).
        seed: seed of the stream (with ``sim.seed`` of ``config``).
        stream: :data:`TRAIN_STREAM` or :data:`CALIBRATION_STREAM` (or any other code >= 3).
        views_per_truth: samples per simulated truth box (module docstring); 1 gives every sample its
            own box. Needs a periodic box (``sim.box_factor >= 2``) when > 1, or a mixture.
        mixture: weights of the truth kinds (:data:`TRUTH_KINDS`; module docstring); None: the truth of
            ``config`` alone.
        outer_mask: [min, max] observed fraction of an outer footprint (module docstring); None: off.
        outer_mask_probability: fraction of the samples given an outer footprint.
        wiener: add ``kappa_wiener``, the Wiener map of the whole simulated map (module docstring).
        crop: side of the random window each sample is (None: the whole map; module docstring).
        crops_per_map: windows cut from each simulated map.
    """

    def __init__(self, config: Config, *, n_gal_arcmin2: tuple[float, float] = (5.0, 100.0),
                 shape_noise_sigma: tuple[float, float] = (0.26, 0.40),
                 masked_fraction: tuple[float, float] = (0.0, 0.35), length: int = 1000, seed: int = 0,
                 stream: int = TRAIN_STREAM, views_per_truth: int = 1, mixture: dict | None = None,
                 outer_mask: tuple[float, float] | None = None, outer_mask_probability: float = 0.0,
                 wiener: bool = False, crop: int | None = None, crops_per_map: int = 1) -> None:
        # Validate the ranges with the pydantic model (the messages name the options).
        ranges = StreamConfig(n_gal_arcmin2=tuple(n_gal_arcmin2), shape_noise_sigma=tuple(shape_noise_sigma),
                              masked_fraction=tuple(masked_fraction))
        if int(length) < 1:
            raise InputError(f"length must be >= 1; got {length}")
        if int(stream) < 3:
            raise InputError(f"stream codes 0-2 belong to the store's splits; got {stream}")
        if int(seed) < 0:
            raise InputError(f"seed must be >= 0; got {seed}")
        if int(views_per_truth) < 1:
            raise InputError(f"views_per_truth must be >= 1; got {views_per_truth}")
        self.mixture = None
        if mixture:
            unknown = set(mixture) - set(TRUTH_KINDS)
            weights = np.array([float(mixture.get(k, 0.0)) for k in TRUTH_KINDS])
            if unknown or (weights < 0).any() or weights.sum() <= 0:
                raise InputError(f"mixture takes non-negative weights of {', '.join(TRUTH_KINDS)} (not all 0); "
                                 f"got {mixture}")
            self.mixture = {k: float(w) for k, w in zip(TRUTH_KINDS, weights / weights.sum()) if w > 0}
            self._kind_configs = {k: truth_config(config, k) for k in self.mixture}
        if outer_mask is not None:
            lo, hi = (float(v) for v in outer_mask)
            if not 0 < lo <= hi <= 1:
                raise InputError(f"outer_mask is a [min, max] observed fraction in (0, 1]; got {outer_mask}")
            outer_mask = (lo, hi)
        if not 0 <= float(outer_mask_probability) <= 1:
            raise InputError(f"outer_mask_probability must lie in [0, 1]; got {outer_mask_probability}")
        self.outer_mask = outer_mask
        self.outer_mask_probability = float(outer_mask_probability) if outer_mask is not None else 0.0
        if int(views_per_truth) > 1 and self.mixture is None and not truth_is_periodic(config):
            raise InputError("views_per_truth > 1 shifts a periodic box: it needs the halo-model truth with "
                             "sim.box_factor >= 2; got truth " + config.sim.truth + ", box_factor "
                             f"{config.sim.box_factor}")
        self.views_per_truth = int(views_per_truth)
        self._last_truth: tuple[tuple[int, int], np.ndarray] | None = None
        self.wiener = bool(wiener)
        if crop is not None and not 8 <= int(crop) <= int(config.survey.map_size):
            raise InputError(f"crop must lie in [8, map_size = {config.survey.map_size}]; got {crop}")
        if int(crops_per_map) < 1:
            raise InputError(f"crops_per_map must be >= 1; got {crops_per_map}")
        self.crop = None if crop is None else int(crop)
        self.crops_per_map = int(crops_per_map) if crop is not None else 1
        self._last_map: tuple[tuple[int, int], dict] | None = None
        self._prior = None  # the Wiener prior's C_ell, made on first use (pyccl, once per process)
        self.n_gal_arcmin2 = tuple(float(v) for v in ranges.n_gal_arcmin2)
        self.shape_noise_sigma = tuple(float(v) for v in ranges.shape_noise_sigma)
        self.masked_fraction = tuple(float(v) for v in ranges.masked_fraction)
        self.length = int(length)
        self.seed = int(seed)
        self.stream = int(stream)
        # The truth config: the base config, unchanged (its JSON keys the per-process field-model cache).
        self.config = config
        survey = config.survey
        mask = survey.mask.model_copy(update={"enabled": self.masked_fraction[1] > 0,
                                              "masked_fraction": self.masked_fraction})
        # Per-sample surveys are model_copy()'d from this one (no validation: a shallow survey at small
        # pixels legitimately leaves many pixels empty, which SurveyConfig refuses for fixed stores).
        self._survey = survey.model_copy(update={"noise_model": "poisson", "mask": mask})

    # ---- what a data set records -------------------------------------------------------------

    @property
    def pixel_arcmin(self) -> float:
        return float(self.config.survey.pixel_arcmin)

    @property
    def map_size(self) -> int:
        return int(self.config.survey.map_size)

    @property
    def ranges(self) -> dict:
        out = {"n_gal_arcmin2": list(self.n_gal_arcmin2), "shape_noise_sigma": list(self.shape_noise_sigma),
               "masked_fraction": list(self.masked_fraction)}
        if self.views_per_truth > 1:
            out["views_per_truth"] = self.views_per_truth
        if self.mixture is not None:
            out["mixture"] = dict(self.mixture)
        if self.outer_mask is not None and self.outer_mask_probability > 0:
            out["outer_mask"] = list(self.outer_mask)
            out["outer_mask_probability"] = self.outer_mask_probability
        if self.crop is not None:
            out["crop"] = self.crop
            out["crops_per_map"] = self.crops_per_map
        if self.wiener:
            out["wiener"] = True
        return out

    @property
    def survey(self) -> dict:
        """The survey recorded with a trained model: the base survey with the stream's ranges."""
        out = self.config.survey.model_dump(mode="json")
        out["noise_model"] = "poisson"
        out["stream"] = self.ranges
        return out

    @property
    def fingerprint(self) -> str:
        h = hashlib.sha256()
        h.update(self.config.to_json().encode())
        h.update(json.dumps({**self.ranges, "seed": self.seed, "stream": self.stream}, sort_keys=True).encode())
        return "stream-" + h.hexdigest()[:16]

    def noise_range(self) -> tuple[float, float]:
        r"""[min, max] of the per-map median noise σ the stream can produce (Gaussian-equivalent
        :math:`\sigma_e/\sqrt{2 n_{\rm gal} A_{\rm pix}}`, at least one galaxy per observed pixel)."""
        area = self.pixel_arcmin**2
        lo = self.shape_noise_sigma[0] / math.sqrt(2.0 * max(self.n_gal_arcmin2[1] * area, 1.0))
        hi = self.shape_noise_sigma[1] / math.sqrt(2.0 * max(self.n_gal_arcmin2[0] * area, 1.0))
        return lo, hi

    # ---- samples ---------------------------------------------------------------------------------

    def draw(self, epoch: int, index: int, *, code: int | None = None) -> dict:
        """The sample's seed and survey draws: ``{"seed", "n_gal_arcmin2", "shape_noise_sigma"}``
        (``code`` 1: the draws of a shared truth box, module docstring)."""
        if int(epoch) < 0 or int(index) < 0:
            raise InputError(f"epoch and index must be >= 0; got ({epoch}, {index})")
        entropy = [self.config.sim.seed, self.stream, self.seed, int(epoch), int(index)]
        ss = np.random.SeedSequence(entropy if code is None else [*entropy, int(code)])
        seed = int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))
        rng = np.random.default_rng(ss.spawn(1)[0])
        lo, hi = self.n_gal_arcmin2
        n_gal = float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) if hi > lo else lo
        s_lo, s_hi = self.shape_noise_sigma
        sigma_e = float(rng.uniform(s_lo, s_hi)) if s_hi > s_lo else s_lo
        return {"seed": seed, "n_gal_arcmin2": n_gal, "shape_noise_sigma": sigma_e}

    def sample_config(self, draws: dict) -> Config:
        """The configuration of one sample: the base one with the drawn survey (not re-validated)."""
        survey = self._survey.model_copy(update={"n_gal_arcmin2": draws["n_gal_arcmin2"],
                                                 "shape_noise_sigma": draws["shape_noise_sigma"]})
        return self.config.model_copy(update={"survey": survey})

    def truth_kind(self, epoch: int, box: int) -> str:
        """The truth kind of box ``box`` of ``epoch`` (the base configuration's without a mixture)."""
        if self.mixture is None:
            return "nbody" if self.config.sim.truth == "nbody" else "halo_model"
        ss = np.random.SeedSequence([self.config.sim.seed, self.stream, self.seed, int(epoch), int(box), 3])
        kinds = list(self.mixture)
        return kinds[int(np.random.default_rng(ss).choice(len(kinds), p=list(self.mixture.values())))]

    def kind_config(self, kind: str) -> Config:
        return self.config if self.mixture is None else self._kind_configs[kind]

    def truth_view(self, epoch: int, index: int) -> tuple[np.ndarray, str]:
        """The truth box of sample ``index`` with ``views_per_truth`` > 1 and its kind: box ``index // V``,
        shifted (periodic kinds) and transformed by the sample's own draws (module docstring)."""
        key = (int(epoch), int(index) // self.views_per_truth)
        if self._last_truth is None or self._last_truth[0] != key:
            box_seed = self.draw(key[0], key[1], code=1)["seed"]
            kind = self.truth_kind(*key)
            self._last_truth = (key, simulate_truth(self.kind_config(kind), box_seed)[0], kind)
        _, box, kind = self._last_truth
        ss = np.random.SeedSequence([self.config.sim.seed, self.stream, self.seed, int(epoch), int(index), 2])
        rng = np.random.default_rng(ss)
        shift = rng.integers(0, box.shape[0]), rng.integers(0, box.shape[1])
        if truth_is_periodic(self.kind_config(kind)):
            view = np.roll(box, shift, axis=(0, 1))
        else:
            # A patch of sky: a window of 3/4 of the box, moved by up to 1/8 of it (the map keeps a margin).
            ny, nx = box.shape
            my, mx = ny // 8, nx // 8
            if ny - 2 * my < self.map_size or nx - 2 * mx < self.map_size:
                my = mx = 0
            y0, x0 = int(shift[0]) % (2 * my + 1), int(shift[1]) % (2 * mx + 1)
            view = box[y0:y0 + ny - 2 * my, x0:x0 + nx - 2 * mx]
        view = np.rot90(view, k=int(rng.integers(4)))
        if rng.integers(2):
            view = view[:, ::-1]
        return np.ascontiguousarray(view), kind

    def sample(self, epoch: int, index: int) -> dict[str, np.ndarray]:
        """Sample ``index`` of ``epoch`` (module docstring); deterministic."""
        if self.crop is None:
            return self.full_map(epoch, index)
        key = (int(epoch), int(index) // self.crops_per_map)
        if self._last_map is None or self._last_map[0] != key:
            self._last_map = (key, self.full_map(*key))
        maps = self._last_map[1]
        ss = np.random.SeedSequence([self.config.sim.seed, self.stream, self.seed, int(epoch), int(index), 5])
        y0, x0 = (int(v) for v in np.random.default_rng(ss).integers(0, self.map_size - self.crop + 1, size=2))
        window = (slice(y0, y0 + self.crop), slice(x0, x0 + self.crop))
        return {k: np.ascontiguousarray(v[(...,) + window]) if np.ndim(v) >= 2 else v for k, v in maps.items()}

    def full_map(self, epoch: int, index: int) -> dict[str, np.ndarray]:
        """Simulated map ``index`` of ``epoch`` at the configuration's full size (module docstring)."""
        draws = self.draw(epoch, index)
        if self.views_per_truth > 1:
            kappa_box, kind = self.truth_view(epoch, index)
        else:
            kind = self.truth_kind(epoch, index)
            kappa_box, _ = simulate_truth(self.kind_config(kind), draws["seed"])
        observed = None
        if self.outer_mask_probability > 0:
            ss = np.random.SeedSequence([self.config.sim.seed, self.stream, self.seed, int(epoch), int(index), 4])
            rng = np.random.default_rng(ss)
            if rng.uniform() < self.outer_mask_probability:
                observed = outer_footprint((self.map_size, self.map_size), rng.uniform(*self.outer_mask), rng)
        maps = apply_survey(kappa_box, self.sample_config(draws), draws["seed"],
                            periodic=truth_is_periodic(self.kind_config(kind)), observed=observed)
        maps["n_gal_arcmin2"] = np.float32(draws["n_gal_arcmin2"])
        maps["shape_noise_sigma"] = np.float32(draws["shape_noise_sigma"])
        maps["seed"] = np.int64(draws["seed"])
        if self.wiener:
            maps["kappa_wiener"] = self.wiener_map(maps)
        return maps

    def wiener_map(self, maps: dict) -> np.ndarray:
        """The Wiener map of a simulated map (the survey's pyccl prior, the map's noise and mask), float32."""
        if self._prior is None:
            nz = source_nz(self.config.survey)
            self._prior = signal_power(cl_kappa=None, z_source=None if nz else self.config.survey.z_source, nz=nz)[0]
        return wiener_kappa(maps["g1"], maps["g2"], maps["mask"], maps["noise"], pixel_arcmin=self.pixel_arcmin,
                            cl_of_ell=self._prior).astype(np.float32)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, key: Any) -> dict[str, np.ndarray]:
        if isinstance(key, (tuple, list)):
            epoch, index = key
        else:
            epoch, index = 0, key
        return self.sample(int(epoch), int(index))

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(n_gal={list(self.n_gal_arcmin2)}, sigma_e={list(self.shape_noise_sigma)}, "
                f"masked={list(self.masked_fraction)}, length={self.length}, seed={self.seed}, "
                f"views_per_truth={self.views_per_truth})")


def stream_from_path(path: str | Path, **kwargs) -> SimulationStream:
    """A stream with the simulation configuration of a Zarr store (``miu2net simulate``)."""
    from miu2net.sims.dataset import read_config

    return SimulationStream(read_config(path), **kwargs)
