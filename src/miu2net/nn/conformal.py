"""Split-conformal intervals and data-check ranges of a trained model: the pure part, no files.

:class:`Calibration` is the ``calibration`` section of a model's card (see :mod:`miu2net.nn.calibration`
for the method, the pixel classes, the CHI2DOF and B/E ranges and the storage format): it turns the
network's spread into the calibrated half-width ``SIGMA`` and judges ``DATAOK``. Kept apart from the
calibration run and its files so that loading a model (:mod:`miu2net.nn.checkpoint`) needs only this.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from miu2net.errors import DataConsistencyWarning, InputError

#: The coverage grid stored with a model.
LEVELS: tuple[float, ...] = tuple(round(v, 3) for v in np.arange(1, 100) / 100.0) + (0.995, 0.999)
#: Coverages reported by ``miu2net calibrate`` (any level of the grid can be used).
REPORT_LEVELS: tuple[float, ...] = (0.68, 0.9, 0.95)
#: Pixel classes, each with its own quantile table (module docstring).
CLASSES: tuple[str, ...] = ("observed", "masked", "edge")
MIN_CLASS_PIXELS = 1000
MIN_MAPS_PER_BIN = 100
MAX_CHI2_BINS = 10
#: Most bins of map noise level the quantile tables are conditioned on (module docstring of calibration).
MAX_NOISE_BINS = 5


def conformal_quantiles(scores: np.ndarray, levels: Iterable[float]) -> np.ndarray:
    r"""Split-conformal quantiles: for each level :math:`c`, the :math:`\lceil (n+1)c\rceil`-th smallest
    of the ``n`` scores (``inf`` when that exceeds ``n``: too few scores for the level)."""
    s = np.sort(np.asarray(scores, dtype=np.float64).ravel())
    n = s.size
    if n == 0:
        raise InputError("no calibration scores")
    out = []
    for c in levels:
        k = max(1, math.ceil((n + 1) * float(c) - 1e-9))  # the 1e-9 absorbs float error in (n+1)c
        out.append(float(s[k - 1]) if k <= n else math.inf)
    return np.asarray(out)


def pixel_classes(mask: np.ndarray, edge_pixels: int) -> np.ndarray:
    """Class index per pixel (0 observed, 1 masked, 2 edge; :data:`CLASSES`) of a map with ``mask``."""
    mask = np.asarray(mask)
    ny, nx = mask.shape
    yy, xx = np.mgrid[:ny, :nx]
    border = np.minimum(np.minimum(yy, ny - 1 - yy), np.minimum(xx, nx - 1 - xx))
    classes = np.where(mask > 0, 0, 1).astype(np.int8)
    classes[border < int(edge_pixels)] = 2
    return classes


def median_noise(noise: np.ndarray | None, mask: np.ndarray) -> float | None:
    """The median per-component noise σ over the observed pixels with a finite, positive σ (None if none)."""
    if noise is None:
        return None
    sigma = np.asarray(noise, dtype=np.float64)[np.asarray(mask) > 0]
    sigma = sigma[np.isfinite(sigma) & (sigma > 0)]
    return float(np.median(sigma)) if sigma.size else None


@dataclass
class Calibration:
    """A model's conformal quantile tables and CHI2DOF ranges (module docstring)."""

    levels: np.ndarray
    quantiles: dict[str, np.ndarray | None]
    n_pixels: dict[str, int]
    n_maps: int
    edge_pixels: int
    score: str
    chi2dof: dict
    empirical_coverage: dict = field(default_factory=dict)
    bmode: dict | None = None
    data: dict = field(default_factory=dict)
    created: str = ""
    miu2net_version: str = ""
    noise_edges: list[float] | None = None

    # ---- intervals -------------------------------------------------------------------------------

    def check_coverage(self, coverage: float) -> float:
        c = float(coverage)
        lo, hi = float(self.levels[0]), float(self.levels[-1])
        if not lo <= c <= hi:
            raise InputError(f"coverage must lie in [{lo}, {hi}] (the calibrated grid); got {coverage}")
        return c

    def quantile(self, coverage: float, region: str = "all") -> float:
        """:math:`q_c` of ``region`` (``all`` or one of :data:`CLASSES`), interpolated on the grid."""
        c = self.check_coverage(coverage)
        table = self.quantiles.get(region)
        if table is None:
            table = self.quantiles["all"]
        q = float(np.interp(c, self.levels, table))
        if not np.isfinite(q):
            raise InputError(f"coverage {c} needs more calibration pixels than the {self.n_pixels.get(region)} "
                             f"this model was calibrated with; choose a lower coverage or recalibrate")
        return q

    def noise_bin(self, noise: np.ndarray | None, mask: np.ndarray) -> int | None:
        """The noise-level bin of a map (its median observed σ against :attr:`noise_edges`), or None."""
        level = median_noise(noise, mask)
        if not self.noise_edges or level is None:
            return None
        return int(np.searchsorted(self.noise_edges, level))

    def region(self, name: str, noise_bin: int | None) -> str:
        """The quantile table of class ``name`` at ``noise_bin``: the class's own at that noise level when
        calibrated, else the class's over every level."""
        key = f"{name}@{noise_bin}"
        return key if noise_bin is not None and self.quantiles.get(key) is not None else name

    def half_width(self, spread: np.ndarray | None, mask: np.ndarray, coverage: float = 0.68,
                   noise: np.ndarray | None = None) -> np.ndarray:
        """The calibrated half-width map at ``coverage``: :math:`q_c\\hat\\sigma` per pixel, with the
        quantile of each pixel's class (and, given the ``noise`` map of a calibration conditioned on noise,
        of the map's noise level). ``spread`` None: a network without a spread channel (1)."""
        mask = np.asarray(mask)
        classes = pixel_classes(mask, self.edge_pixels)
        b = self.noise_bin(noise, mask)
        q = np.array([self.quantile(coverage, self.region(name, b)) for name in CLASSES])[classes]
        base = np.ones(mask.shape) if spread is None else np.asarray(spread, dtype=np.float64)
        return q * base

    # ---- data consistency ------------------------------------------------------------------------

    @staticmethod
    def _range(summary: dict, noise_level: float | None) -> tuple[float, float]:
        bins = summary.get("bins") or []
        if noise_level is None or not bins:
            lo, hi = summary["range"]
        else:
            edges = [b["sigma"][1] for b in bins[:-1]]
            lo, hi = bins[int(np.searchsorted(edges, noise_level))]["range"]
        pad = float(summary.get("margin", 0.0)) * (float(hi) - float(lo))
        return float(lo) - pad, float(hi) + pad

    def chi2_range(self, noise_level: float | None = None) -> tuple[float, float]:
        """The accepted CHI2DOF range for input of median noise ``noise_level`` (module docstring)."""
        return self._range(self.chi2dof, noise_level)

    def b_range(self, noise_level: float | None = None) -> tuple[float, float] | None:
        """The accepted B/E power ratio range (module docstring); None for a calibration without one."""
        return None if not self.bmode else self._range(self.bmode, noise_level)

    def problems(self, chi2dof: float, noise_level: float | None = None, b_ratio: float | None = None) -> list[str]:
        """What lies outside the calibrated ranges (empty: the data look like the calibration data)."""
        out = []
        lo, hi = self.chi2_range(noise_level)
        if not (np.isfinite(chi2dof) and lo <= chi2dof <= hi):
            out.append(f"CHI2DOF = {chi2dof:.4g} outside [{lo:.4g}, {hi:.4g}]")
        b_range = self.b_range(noise_level)
        if b_ratio is not None and b_range is not None:
            # One-sided: less B than the calibration maps had is no sign of trouble (a massive cluster
            # raises the E power), more is.
            hi = b_range[1]
            if not (np.isfinite(b_ratio) and b_ratio <= hi):
                out.append(f"large-scale B/E power {b_ratio:.3g} above {hi:.3g}")
        return out

    def data_ok(self, chi2dof: float, noise_level: float | None = None, b_ratio: float | None = None) -> bool:
        """True when ``chi2dof`` (and ``b_ratio``, when given and calibrated) lie inside their ranges."""
        return not self.problems(chi2dof, noise_level, b_ratio)

    def check(self, chi2dof: float, noise: np.ndarray | None, mask: np.ndarray, *, b_ratio: float | None = None,
              warn: bool = True) -> bool:
        """:meth:`data_ok` for a map's CHI2DOF (and B/E ratio), its noise map and mask; a one-line
        :class:`DataConsistencyWarning` when it is not."""
        level = median_noise(noise, mask)
        problems = self.problems(chi2dof, level, b_ratio)
        if problems and warn:
            warnings.warn("; ".join(problems) + ", the range this model saw on its calibration data: the input is "
                          "not what the network knows (sign convention of e1/e2, B modes, or a noise map that "
                          "misstates the noise); DATAOK = F", DataConsistencyWarning, stacklevel=3)
        return not problems

    # ---- JSON ------------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        def table(v):
            return None if v is None else [float(x) if np.isfinite(x) else None for x in v]

        return {
            "method": "split-conformal",
            "score": self.score,
            "levels": [float(v) for v in self.levels],
            "quantiles": {k: table(v) for k, v in self.quantiles.items()},
            "n_pixels": {k: int(v) for k, v in self.n_pixels.items()},
            "n_maps": int(self.n_maps),
            "edge_pixels": int(self.edge_pixels),
            "empirical_coverage": self.empirical_coverage,
            "chi2dof": self.chi2dof,
            "bmode": self.bmode,
            "data": self.data,
            "noise_edges": None if self.noise_edges is None else [float(v) for v in self.noise_edges],
            "created": self.created,
            "miu2net_version": self.miu2net_version,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Calibration:
        try:
            if data.get("method") != "split-conformal":
                raise KeyError("method")

            def table(v):
                return None if v is None else np.array([np.inf if x is None else float(x) for x in v])

            return cls(levels=np.asarray(data["levels"], dtype=np.float64),
                       quantiles={k: table(v) for k, v in data["quantiles"].items()},
                       n_pixels=dict(data.get("n_pixels", {})), n_maps=int(data["n_maps"]),
                       edge_pixels=int(data["edge_pixels"]), score=str(data["score"]), chi2dof=dict(data["chi2dof"]),
                       empirical_coverage=dict(data.get("empirical_coverage", {})), data=dict(data.get("data", {})),
                       bmode=dict(data["bmode"]) if data.get("bmode") else None,
                       noise_edges=[float(v) for v in data["noise_edges"]] if data.get("noise_edges") else None,
                       created=str(data.get("created", "")), miu2net_version=str(data.get("miu2net_version", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"the model's calibration entry is not readable ({exc}); recalibrate it with "
                             "`miu2net calibrate`") from None

    def summary(self) -> dict:
        """Quantiles, empirical coverage and CHI2DOF range at :data:`REPORT_LEVELS` (for printing)."""
        return {"n_maps": self.n_maps, "n_pixels": self.n_pixels.get("all"), "score": self.score,
                "q": {f"{c:g}": self.quantile(c) for c in REPORT_LEVELS},
                "coverage": self.empirical_coverage, "chi2dof_range": self.chi2dof["range"]}


# ---- building a calibration ------------------------------------------------------------------------


def range_summary(chi2: np.ndarray, noise: np.ndarray, quantiles: tuple[float, float], margin: float = 0.0) -> dict:
    """The accepted range of a data-check statistic (CHI2DOF or the B/E ratio) of calibration maps, overall
    and per noise bin (module docstring, "Data consistency")."""
    qlo, qhi = quantiles
    chi2 = np.asarray(chi2, dtype=np.float64)
    noise = np.asarray(noise, dtype=np.float64)
    out = {"quantiles": [qlo, qhi], "range": [float(np.quantile(chi2, qlo)), float(np.quantile(chi2, qhi))],
           "margin": float(margin),
           "percentiles": {str(p): float(np.percentile(chi2, p)) for p in (0, 1, 5, 50, 95, 99, 100)}}
    n_bins = min(MAX_CHI2_BINS, len(chi2) // MIN_MAPS_PER_BIN)
    bins = []
    if n_bins >= 2 and np.ptp(np.log(noise)) > 0.05:
        order = np.argsort(noise)
        for part in np.array_split(order, n_bins):
            c = chi2[part]
            bins.append({"sigma": [float(noise[part].min()), float(noise[part].max())],
                         "range": [float(np.quantile(c, qlo)), float(np.quantile(c, qhi))], "n": int(len(part))})
    out["bins"] = bins
    return out
