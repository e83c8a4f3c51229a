"""Reconstruction methods, one module each, one interface.

Every method module exposes ``reconstruct(shear: ShearMap, **options) -> KappaMap`` with keyword-only
options, each documented with its unit. :func:`get_method` finds one by the name the CLI uses.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import replace

from miu2net.errors import InputError
from miu2net.maps import KappaMap, ShearMap
from miu2net.stats.consistency import chi2_per_dof

# CLI name -> module under miu2net.methods. Modules are imported on demand (torch-based ones are slow).
METHODS: dict[str, str] = {
    "ks": "ks",
    "wiener": "wiener",
    "ksplus": "ksplus",
    "sparse": "sparse",
    "mcalens": "mcalens",
    "miu2net": "miu2net",
    "deepmass": "deepmass",
}


def get_method(name: str) -> Callable[..., KappaMap]:
    """The ``reconstruct`` function of the method called ``name`` (e.g. ``"ks"``)."""
    if name not in METHODS:
        raise InputError(f"unknown method {name!r}; choose one of: {', '.join(sorted(METHODS))}")
    module = importlib.import_module(f"miu2net.methods.{METHODS[name]}")
    return module.reconstruct


def reconstruct(shear: ShearMap, method: str = "ks", **options) -> KappaMap:
    """Reconstruct a convergence map from gridded shear with the named method.

    The data-consistency check (``meta["chi2dof"]``, see :mod:`miu2net.stats.consistency`) is added
    for every method when the shear carries a noise map. Unknown options raise InputError.
    """
    func = get_method(method)
    accepted = inspect.signature(func).parameters
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        known = ", ".join(p for p in accepted if p != "shear")
        raise InputError(f"method {method!r} has no option(s) {', '.join(unknown)}; its options: {known}")
    kappa = func(shear, **options)
    if shear.noise is not None and "chi2dof" not in kappa.meta:
        chi2 = chi2_per_dof(shear.g1, shear.g2, shear.mask, shear.noise, kappa.kappa_e)
        kappa = replace(kappa, meta={**kappa.meta, "chi2dof": chi2})
    return kappa


__all__ = ["METHODS", "get_method", "reconstruct"]
