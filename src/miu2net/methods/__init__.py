"""Reconstruction methods, one module each, one contract (:mod:`miu2net.methods.base`).

Every method module exposes ``reconstruct(shear: ShearMap, **options) -> KappaMap`` with keyword-only
options, each documented with its unit, and a ``METHOD`` that declares them. :func:`get_method` finds
one by the name the CLI uses; :func:`reconstruct` runs one and adds the data-consistency check
(both in :mod:`.registry`).
"""

from miu2net.methods.base import Method, TrainedMethod
from miu2net.methods.registry import METHODS, get_method, reconstruct

__all__ = ["METHODS", "Method", "TrainedMethod", "get_method", "reconstruct"]
