"""Reconstruction methods, one module each, one interface.

Every method module exposes ``reconstruct(shear: ShearMap, **options) -> KappaMap`` with keyword-only
options, each documented with its unit. :func:`get_method` finds one by the name the CLI uses.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from miu2net.errors import InputError
from miu2net.maps import KappaMap, ShearMap

# CLI name -> module under miu2net.methods. Modules are imported on demand (torch-based ones are slow).
METHODS: dict[str, str] = {
    "ks": "ks",
}


def get_method(name: str) -> Callable[..., KappaMap]:
    """The ``reconstruct`` function of the method called ``name`` (e.g. ``"ks"``)."""
    if name not in METHODS:
        raise InputError(f"unknown method {name!r}; choose one of: {', '.join(sorted(METHODS))}")
    module = importlib.import_module(f"miu2net.methods.{METHODS[name]}")
    return module.reconstruct


def reconstruct(shear: ShearMap, method: str = "ks", **options) -> KappaMap:
    """Reconstruct a convergence map from gridded shear with the named method."""
    return get_method(method)(shear, **options)


__all__ = ["METHODS", "get_method", "reconstruct"]
