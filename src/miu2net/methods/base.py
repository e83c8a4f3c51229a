"""The method contract: what every reconstruction method declares, and how the pipeline calls it.

Each method module defines ``reconstruct(shear: ShearMap, *, options...) -> KappaMap`` and a
``METHOD`` object (a :class:`Method`, or a :class:`TrainedMethod` for a trained network) that states:

* ``options``: the keyword options ``reconstruct`` takes, each an :class:`Option` with its kind and
  range (an unknown option, a value of the wrong kind or out of range is an InputError naming it);
* :meth:`Method.bind`: the options with costly resources resolved once per reconstruction (a trained
  method loads its model here, so every tile and noise realisation shares it);
* :meth:`Method.working_grid`: the grid the method works on, i.e. the input itself, or for a trained
  model at a coarser pixel the input binned to it (with a record of the binning);
* :meth:`Method.problems`: why the input does not fit the method ([] when it does).

The pipeline (:mod:`miu2net.pipeline`) asks these once and calls ``reconstruct`` on the working grid;
nothing inspects a function's signature to learn what a method is.
"""

from __future__ import annotations

import functools
import math
import numbers
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from miu2net.errors import InputError
from miu2net.maps import KappaMap, ShearMap
from miu2net.physics.wiener import BACKENDS


@dataclass(frozen=True)
class Option:
    """One keyword option of a method: its kind, whether None is allowed, and for numbers the range.

    Kinds: ``float``, ``int``, ``bool``, ``str``; ``function`` and ``arrays`` (Python callers only: a
    callable, a tuple of arrays); ``model`` (a model name, a path or a loaded model); ``device`` (a
    torch device name or a GPU number).
    """

    kind: Literal["float", "int", "bool", "str", "function", "arrays", "model", "device"]
    optional: bool = False
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] | None = None

    def check(self, name: str, value: Any) -> None:
        """InputError when ``value`` is not of this option's kind or lies outside its range."""
        flag = f"option {name}"
        if value is None:
            if self.optional:
                return
            raise InputError(f"{flag} needs a value; got None")
        if self.kind in ("function", "arrays"):
            if callable(value) if self.kind == "function" else isinstance(value, (tuple, list, np.ndarray)):
                return
            raise InputError(f"{flag} takes {'a function' if self.kind == 'function' else 'arrays'}: use the "
                             "Python API (miu2net.methods.reconstruct), not --option text")
        if self.kind == "model":
            if isinstance(value, (str, Path)) or hasattr(value, "config"):
                return
            raise InputError(f"{flag} expects a model name or path; got {value!r}")
        if self.kind == "bool":
            if not isinstance(value, (bool, np.bool_)):
                raise InputError(f"{flag} expects true or false; got {value!r}")
            return
        if self.kind == "device":
            if not (isinstance(value, str) or (isinstance(value, numbers.Integral) and not isinstance(value, bool)
                                               and value >= 0)):
                raise InputError(f"{flag} expects cpu, cuda, cuda:N, auto or a GPU number; got {value!r}")
            return
        if self.kind == "str":
            if not isinstance(value, str):
                raise InputError(f"{flag} expects a name (text); got {value!r}")
            if self.choices is not None and value not in self.choices:
                raise InputError(f"{flag} must be one of {', '.join(map(repr, self.choices))}; got {value!r}")
            return
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise InputError(f"{flag} expects a number; got {value!r} (e.g. --option {name}=1.5)")
        if not math.isfinite(value):
            raise InputError(f"{flag} must be a finite number; got {value}")
        if self.kind == "int" and not isinstance(value, numbers.Integral):
            raise InputError(f"{flag} expects a whole number; got {value!r}")
        too_low = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        too_high = self.high is not None and (value >= self.high if self.high_open else value > self.high)
        if too_low or too_high:
            lo = "-inf" if self.low is None else f"{self.low:g}"
            hi = "inf" if self.high is None else f"{self.high:g}"
            raise InputError(f"{flag} must lie in {'(' if self.low_open else '['}{lo}, {hi}"
                             f"{')' if self.high_open else ']'}; got {value:g}")


#: The options the methods share, by name: one definition of each kind and range.
OPTIONS: dict[str, Option] = {
    "smooth_arcmin": Option("float", low=0.0),
    "pad": Option("bool"),
    "cl_kappa": Option("function", optional=True),
    "z_source": Option("float", optional=True, low=0.0, low_open=True),
    "nz": Option("arrays", optional=True),
    "shape_noise_sigma": Option("float", low=0.0, high=1.0, low_open=True, high_open=True),
    "n_gal_arcmin2": Option("float", low=0.0, low_open=True),
    "b_mode_prior": Option("float", low=0.0),
    "tol": Option("float", low=0.0, low_open=True),
    "wiener_tol": Option("float", low=0.0, low_open=True),
    "max_iter": Option("int", low=1),
    "n_iter": Option("int", low=1),
    "n_scales": Option("int", optional=True, low=1),
    "first_detect_scale": Option("int", low=0),
    "n_reweight": Option("int", low=0),
    "k_sigma": Option("float", low=0.0, low_open=True),
    "thresholding": Option("str", choices=("soft", "hard")),
    "reduced_shear": Option("bool"),
    "power_constraint": Option("bool"),
    "positivity": Option("bool"),
    "positive_peaks": Option("bool"),
    "model": Option("model"),
    "device": Option("device", optional=True),
    "backend": Option("str", choices=BACKENDS),
    "pad_pixels": Option("int", optional=True, low=0),
    "single_precision": Option("bool", optional=True),
    "batch_size": Option("int", low=1),
    "allow_mismatch": Option("bool"),
    "network_overlap": Option("int", optional=True, low=0),
    "b_mode": Option("str", choices=("ks", "network", "zero")),
    "coverage": Option("float", low=0.0, high=1.0, low_open=True, high_open=True),
    "symmetrise": Option("bool"),
    "estimate": Option("str", choices=("mean", "power")),
    "correction_ell_min": Option("float", optional=True, low=0.0),
}


def checked(reconstruct: Callable[..., KappaMap]) -> Callable[..., KappaMap]:
    """Check a method's keyword options against its declaration (the ``METHOD`` of its module) before it
    runs, so that a direct Python call is refused as the CLI's is: the one place options are validated."""

    @functools.wraps(reconstruct)
    def run(shear: ShearMap, **options: Any) -> KappaMap:
        sys.modules[reconstruct.__module__].METHOD.check_options(options)
        return reconstruct(shear, **options)

    return run


def options(*names: str) -> dict[str, Option]:
    """The shared :data:`OPTIONS` called ``names``, for a method's declaration."""
    return {name: OPTIONS[name] for name in names}


@dataclass(frozen=True)
class Method:
    """A classical method: it works on the input's own grid and any input with a pixel scale fits it."""

    name: str
    reconstruct: Callable[..., KappaMap]
    options: dict[str, Option]

    def check_options(self, options: dict) -> None:
        """InputError naming an unknown option (and the known ones), or a value of the wrong kind or range."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise InputError(f"method {self.name!r} has no option(s) {', '.join(unknown)}; its options: "
                             f"{', '.join(self.options)}")
        for name, value in options.items():
            self.options[name].check(name, value)

    def bind(self, options: dict, shear: ShearMap | None = None) -> dict:
        """The options to run with (checked; nothing to resolve for a classical method; a trained method
        resolves its model, by default the shipped one for the pixel of ``shear``)."""
        self.check_options(options)
        return dict(options)

    def working_grid(self, shear: ShearMap, options: dict) -> tuple[ShearMap, dict | None]:
        """The shear on the grid the method works on, and the binning record (None: the input's grid)."""
        return shear, None

    def problems(self, shear: ShearMap, options: dict) -> list[str]:
        """Why ``shear`` does not fit the method; empty when it does."""
        return []

    @property
    def default_model(self) -> str | None:
        """The shipped model a trained method uses by default (None for a classical method)."""
        return None


@dataclass(frozen=True)
class TrainedMethod(Method):
    """A trained network of one registry family, served by :mod:`miu2net.nn.inference`."""

    family: str = ""

    @property
    def default_model(self) -> str | None:
        from miu2net.nn.inference import default_model

        return default_model(self.family)

    def model(self, options: dict, shear: ShearMap | None = None) -> Any:
        """The loaded model of ``options["model"]``; default: the family's shipped model for the pixel of
        ``shear`` (:func:`miu2net.nn.inference.default_model_for`), or its default model without one."""
        from miu2net.nn.inference import default_model_for, load

        name = options.get("model")
        if name is None:
            name = default_model_for(self.family, None if shear is None else shear.pixel_arcmin)
        return load(name)

    def bind(self, options: dict, shear: ShearMap | None = None) -> dict:
        self.check_options(options)
        return {**options, "model": self.model(options, shear)}

    def working_grid(self, shear: ShearMap, options: dict) -> tuple[ShearMap, dict | None]:
        from miu2net.nn.inference import bin_to_model

        return bin_to_model(shear, self.model(options, shear))

    def problems(self, shear: ShearMap, options: dict) -> list[str]:
        grid, _ = self.working_grid(shear, options)
        return self.model(options, shear).check_input(grid, allow_mismatch=True)
