"""The methods by the names the CLI uses: :func:`get_method` finds one, :func:`reconstruct` runs one and adds
the data-consistency check."""

from __future__ import annotations

import importlib
from dataclasses import replace

from miu2net.errors import InputError
from miu2net.maps import KappaMap, ShearMap
from miu2net.methods.base import Method
from miu2net.physics.consistency import chi2_per_dof

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


def get_method(name: str) -> Method:
    """The :class:`~miu2net.methods.base.Method` called ``name`` (e.g. ``"ks"``)."""
    if name not in METHODS:
        raise InputError(f"unknown method {name!r}; choose one of: {', '.join(sorted(METHODS))}")
    return importlib.import_module(f"miu2net.methods.{METHODS[name]}").METHOD


def reconstruct(shear: ShearMap, method: str = "ks", **options) -> KappaMap:
    """Reconstruct a convergence map from gridded shear with the named method.

    The data-consistency check (``meta["chi2dof"]``, see :mod:`miu2net.physics.consistency`) is added
    for every method when the shear carries a noise map. Unknown options raise InputError.
    """
    spec = get_method(method)
    spec.check_options(options)
    kappa = spec.reconstruct(shear, **options)
    if shear.noise is not None and "chi2dof" not in kappa.meta:
        chi2 = chi2_per_dof(shear.g1, shear.g2, shear.mask, shear.noise, kappa.kappa_e)
        kappa = replace(kappa, meta={**kappa.meta, "chi2dof": chi2})
    return kappa
