"""The default method, ``auto``: the shipped MIU2Net where the input fits it, else the Wiener filter, and
the reason either way."""

from __future__ import annotations

from typing import Any

from miu2net.errors import InputError
from miu2net.maps import ShearMap
from miu2net.methods import get_method

#: The default method of ``reconstruct``: the shipped MIU2Net where the input matches it, else the
#: Wiener filter (the best classical method for its time on the benchmark, docs/results.md).
AUTO = "auto"
#: What ``auto`` falls back to when the shipped model does not fit the input.
AUTO_FALLBACK = "wiener"


def choose_method(shear: ShearMap, options: dict) -> tuple[str, dict]:
    """The method ``auto`` stands for on ``shear``, and why: ``miu2net`` with its shipped default model
    when the input matches the model's configuration (its pixel scale, at least its map size, a noise
    map within its noise range), else the Wiener filter (:data:`AUTO_FALLBACK`) with the reason. Input
    at an integer fraction of the model's pixel goes to the Wiener filter on its own grid too: binning it
    for the network changes the map's pixels, which only ``--method miu2net`` asks for (the reason says so)."""
    method, why, _ = _auto_choice(shear, options)
    return method, why


#: Options ``auto`` passes to the network when it chooses it (and drops, saying so, when it falls back).
AUTO_NETWORK_OPTIONS = ("coverage", "estimate")


def check_auto_options(options: dict) -> None:
    """The options ``auto`` takes: those it passes to the network (:data:`AUTO_NETWORK_OPTIONS`), checked
    as the network's; any other belongs to one method and needs ``--method`` (InputError)."""
    other = sorted(set(options) - set(AUTO_NETWORK_OPTIONS))
    if other:
        raise InputError(f"--option {', '.join(other)} belongs to one method: give --method too "
                         "(auto picks miu2net or wiener)")
    get_method("miu2net").check_options(options)


def _auto_choice(shear: ShearMap, options: dict) -> tuple[str, dict, Any]:
    """:func:`choose_method`, and the loaded model when the network was chosen (else None)."""
    check_auto_options(options)
    network = get_method("miu2net")
    try:
        bound = network.bind({}, shear)
    except InputError as exc:
        return AUTO_FALLBACK, {"chosen": AUTO_FALLBACK, "model": None, "reason": str(exc)}, None
    trained = bound["model"]
    _, binned = network.working_grid(shear, bound)
    if binned is not None:
        factor = binned["factor"]
        return AUTO_FALLBACK, {
            "chosen": AUTO_FALLBACK, "model": None,
            "reason": f"its {shear.pixel_arcmin:g}' pixels are finer than the model's {trained.pixel_arcmin:g}'; "
                      f"--method miu2net bins them {factor}x{factor} and returns the map on that grid"}, None
    problems = network.problems(shear, bound)
    if problems:
        reason = f"model {trained.name}: " + "; ".join(problems) + "."
        return AUTO_FALLBACK, {"chosen": AUTO_FALLBACK, "model": None, "reason": reason}, None
    chosen = {"chosen": "miu2net", "model": trained.name, "reason": "the input fits the shipped model"}
    return "miu2net", chosen, trained


def explain_auto_fallback(reason: str, shear: ShearMap) -> str:
    """``auto``'s reason for not using the shipped network, with what would make the input fit it:
    for a catalogue the ``--pixel-arcmin`` and ``--size`` to grid it at, for gridded shear the pixel
    and map size it needs; an override (``allow_mismatch``) is not offered as the fix (``_auto_choice``
    words the reason without it)."""
    trained = get_method("miu2net").model({}, shear)  # the shipped model for this pixel (cached)
    ty, tx = trained.map_size
    pixel, side = trained.pixel_arcmin, max(ty, tx)
    fits_pixel = abs(shear.pixel_arcmin / pixel - 1.0) < 1e-3
    embed = trained.embed_fraction
    fits_size = min(shear.shape) >= side if embed is None else min(shear.shape) >= trained.min_embedded_side
    if fits_pixel and fits_size:
        return reason.rstrip(". ") + " (no gridding option changes this)"
    if "n_galaxies_in_map" in shear.meta:
        wanted = [f"--pixel-arcmin {pixel:g}"] if not fits_pixel else []
        wanted += [f"--size {side}"] if not fits_size or not fits_pixel else []
        return f"{reason.rstrip('. ')}; to use it, grid the catalogue with {' '.join(wanted)} (or larger --size)"
    hint = "" if "bins them" in reason else " (finer pixels: --method miu2net bins them)"
    return f"{reason.rstrip('. ')}; to use it, give shear on {pixel:g}' pixels, at least {ty}x{tx} of them{hint}"
