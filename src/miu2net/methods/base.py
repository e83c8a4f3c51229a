"""The method contract: what every reconstruction method declares, and how the pipeline calls it.

Each method module defines ``reconstruct(shear: ShearMap, *, options...) -> KappaMap`` and a
``METHOD`` object (a :class:`Method`, or a :class:`TrainedMethod` for a trained network) that states:

* ``options``: the keyword options ``reconstruct`` takes (an unknown one is an InputError naming them);
* :meth:`Method.bind`: the options with costly resources resolved once per reconstruction (a trained
  method loads its model here, so every tile and noise realisation shares it);
* :meth:`Method.working_grid`: the grid the method works on, i.e. the input itself, or for a trained
  model at a coarser pixel the input binned to it (with a record of the binning);
* :meth:`Method.problems`: why the input does not fit the method ([] when it does).

The pipeline (:mod:`miu2net.pipeline`) asks these once and calls ``reconstruct`` on the working grid;
nothing inspects a function's signature to learn what a method is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from miu2net.errors import InputError
from miu2net.maps import KappaMap, ShearMap


@dataclass(frozen=True)
class Method:
    """A classical method: it works on the input's own grid and any input with a pixel scale fits it."""

    name: str
    reconstruct: Callable[..., KappaMap]
    options: tuple[str, ...]

    def check_options(self, options: dict) -> None:
        """InputError naming the unknown options and the known ones."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise InputError(f"method {self.name!r} has no option(s) {', '.join(unknown)}; its options: "
                             f"{', '.join(self.options)}")

    def bind(self, options: dict) -> dict:
        """The options to run with (checked; nothing to resolve for a classical method)."""
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
        from miu2net.nn.inference import DEFAULT_MODELS

        return DEFAULT_MODELS[self.family]

    def model(self, options: dict) -> Any:
        """The loaded model of ``options["model"]`` (default: the family's shipped model)."""
        from miu2net.nn.inference import load

        return load(options.get("model", self.default_model))

    def bind(self, options: dict) -> dict:
        self.check_options(options)
        return {**options, "model": self.model(options)}

    def working_grid(self, shear: ShearMap, options: dict) -> tuple[ShearMap, dict | None]:
        from miu2net.nn.inference import bin_to_model

        return bin_to_model(shear, self.model(options))

    def problems(self, shear: ShearMap, options: dict) -> list[str]:
        grid, _ = self.working_grid(shear, options)
        return self.model(options).check_input(grid, allow_mismatch=True)
