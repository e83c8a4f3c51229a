"""What every configuration model shares: frozen pydantic models, one range check, one file reader.

Configuration models hold numbers and choices, validate them at construction and know nothing of
arrays. They are frozen values (hashable, usable as cache keys) and refuse unknown keys
(typos). An impossible value raises a ``pydantic.ValidationError`` (a ``ValueError``) naming the
option; :func:`format_errors` turns one into the lines of an :class:`miu2net.errors.InputError`.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from miu2net.errors import InputError


class FrozenModel(BaseModel):
    """Base of every configuration model: frozen, and extra keys are errors (typos)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def check_range(name: str, value: tuple[float, float], lo: float, hi: float, *, open_lo: bool = False,
                open_hi: bool = False) -> None:
    """ValueError unless ``value = (a, b)`` has ``a <= b`` inside [lo, hi] (ends open as asked)."""
    a, b = value
    ok_lo = a > lo if open_lo else a >= lo
    ok_hi = b < hi if open_hi else b <= hi
    if not (ok_lo and a <= b and ok_hi):
        raise ValueError(f"{name} = {list(value)} must be [min, max] with min <= max inside "
                         f"{'(' if open_lo else '['}{lo}, {hi}{')' if open_hi else ']'}")


def format_errors(exc: ValidationError) -> str:
    """One indented line per problem: ``  where: message``."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"  {where}: {msg}")
    return "\n".join(lines)


def read_config_file(path: str | Path, *, yaml_fallback: bool = False) -> dict:
    """The raw mapping of a YAML (``.yaml``/``.yml``) or TOML (``.toml``) file; :class:`InputError` if unreadable.

    ``yaml_fallback`` reads a file of any other suffix as YAML (which JSON is too), as training
    option files always were.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such configuration file")
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".toml") and not yaml_fallback:
        raise InputError(f"{path}: unknown configuration format {suffix!r}; use .yaml, .yml or .toml")
    try:
        text = path.read_text()
        data = (yaml.safe_load(text) or {}) if suffix != ".toml" else tomllib.loads(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{path}: cannot read the configuration ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping of sections; got {type(data).__name__}")
    return data
