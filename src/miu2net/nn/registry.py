"""Named network variants, timm-style: a variant is a small function registered by name.

``create_model("u2net_small")`` builds one; keyword arguments override the variant's defaults (widths,
``inputs``, ``out_channels``, the normalisation). Names are case-insensitive and ``-`` equals ``_``
(``u2net-small`` is ``u2net_small``). The built model remembers its name and keyword arguments
(``model.arch``, ``model.arch_kwargs``) so a checkpoint can rebuild it exactly.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from miu2net.errors import InputError

_REGISTRY: dict[str, Callable] = {}
_FAMILY: dict[str, str] = {}
#: Modules whose import registers their variants (one line per architecture file).
FAMILY_MODULES = ("miu2net.nn.u2net", "miu2net.nn.unet")


def register_model(func: Callable | None = None, *, family: str = "miu2net") -> Callable:
    """Decorator: register a variant function under its own name, for the reconstruction method
    ``family`` (``miu2net`` or ``deepmass``; :mod:`miu2net.nn.inference` serves both alike).

    ``@register_model`` or ``@register_model(family="deepmass")``.
    """
    def register(f: Callable) -> Callable:
        _REGISTRY[f.__name__] = f
        _FAMILY[f.__name__] = family
        return f

    return register(func) if func is not None else register


def _load_families() -> None:
    # Importing the family modules runs their @register_model decorators.
    import importlib

    for module in FAMILY_MODULES:
        importlib.import_module(module)


def family_of(name: str) -> str:
    """The reconstruction method that serves architecture ``name`` (InputError if unregistered)."""
    _load_families()
    key = canonical_name(name)
    if key not in _FAMILY:
        raise InputError(f"unknown architecture {name!r}; registered: {', '.join(sorted(_REGISTRY))}")
    return _FAMILY[key]


def canonical_name(name: str) -> str:
    """``"U2Net-Small"`` -> ``"u2net_small"``."""
    return str(name).strip().lower().replace("-", "_")


def list_models() -> list[str]:
    """Names of every registered variant, sorted."""
    _load_families()
    return sorted(_REGISTRY)


def create_model(name: str, **kwargs):
    """Build the registered variant ``name`` with ``kwargs`` overriding its defaults.

    Raises InputError for an unknown name or an option the variant does not take.
    """
    _load_families()
    key = canonical_name(name)
    if key not in _REGISTRY:
        raise InputError(f"unknown architecture {name!r}; registered: {', '.join(sorted(_REGISTRY))}")
    func = _REGISTRY[key]
    try:
        model = func(**kwargs)
    except TypeError as exc:
        if "keyword argument" not in str(exc):
            raise
        accepted = ", ".join(inspect.signature(func).parameters)
        raise InputError(f"architecture {key!r}: {exc}; it takes: {accepted}") from None
    model.arch = key
    model.arch_kwargs = dict(kwargs)
    return model


def count_parameters(model) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def model_info(name: str, **kwargs) -> dict:
    """Name, one-line description, parameter count and inputs of a variant, built on the meta device
    (no memory for weights, no forward pass)."""
    import torch

    _load_families()
    key = canonical_name(name)
    with torch.device("meta"):
        model = create_model(key, **kwargs)
    doc = (inspect.getdoc(_REGISTRY[key]) or "").splitlines()
    return {"name": key, "description": doc[0] if doc else "", "parameters": count_parameters(model),
            "inputs": list(model.inputs), "out_channels": model.out_channels}
