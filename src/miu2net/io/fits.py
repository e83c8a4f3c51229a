"""FITS files in and out, by the file contracts (docs/files.md).

Gridded shear in: FITS with image HDUs ``G1``, ``G2``, optional ``MASK`` (1 observed, 0 masked) and
``NOISE`` (per-pixel std of each component), and either a celestial WCS (on ``G1`` or the primary
header) or the keyword ``PIXSCALE`` (arcmin). NumPy ``.npz`` with the same names (and a scalar
``PIXSCALE``) reads too. ``G1``/``G2`` are taken on the map's own axes: ``G1 > 0`` is a stretch along the
array's x axis (axis 1). NaN is accepted only in masked pixels (a NaN in MASK reads as masked); MASK
holds only 0 and 1; in observed pixels the reduced shear has :math:`|g| < 1` and NOISE is above
:data:`MIN_NOISE`. Each of the four names appears once.

Convergence out: FITS with image HDUs ``KAPPA_E``, ``KAPPA_B`` and, where computed, ``SIGMA``,
``SIGMA_NOISE``, ``SNR`` and a trained model's second estimate (``KAPPA_POWER``, the power-faithful
map, when ``KAPPA_E`` is the minimum-RMSE map; ``KAPPA_MEAN`` when ``ESTIMATE = 'power'`` made the
power-faithful map ``KAPPA_E``), each with the celestial WCS; provenance (METHOD, MODEL, OPTIONS, VERSION,
PIXSCALE, CHI2DOF, BTOE (large-scale B/E power of the shear, calibrated models), DATAOK, COVERAGE;
BINNED and INPIXSC when the input was binned to a model's pixel) in the primary header and repeated
in ``KAPPA_E``'s. A header holds no NaN or infinity: such a value (BTOE of shear without E-mode power)
is left out and a COMMENT card says so. Every card fits in 80 characters (no comment is cut). Files are
written to a temporary name and renamed, so a crash never leaves half a file.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from miu2net import __version__
from miu2net.errors import InputError
from miu2net.io.files import atomic_write
from miu2net.maps import KappaMap, ShearMap, default_wcs
from miu2net.validate import MIN_MAP_SIZE

FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz")
#: The maps of gridded shear input, by name (FITS HDUs or .npz arrays, case-insensitive).
SHEAR_MAPS = ("G1", "G2", "MASK", "NOISE")
#: Smallest per-pixel NOISE (std of a shear component) read in an observed pixel: below it the noise map is
#: not a shear noise (a unit or placeholder error) and would make the map all zero with an absurd CHI2DOF.
MIN_NOISE = 1e-8


def _is_fits(path: Path) -> bool:
    return str(path).lower().endswith(FITS_SUFFIXES)


def _celestial_wcs(header: fits.Header) -> WCS | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        try:
            wcs = WCS(header, naxis=2)
        except Exception as exc:  # astropy raises several types for broken WCS keywords
            raise InputError(f"the WCS in the header cannot be read: {exc}") from None
    return wcs if wcs.has_celestial else None


def pixel_arcmin_of_wcs(wcs: WCS) -> float:
    """Pixel side in arcmin of a celestial WCS; refuses non-square or sheared pixels."""
    scales = wcs.celestial.proj_plane_pixel_scales()
    sx, sy = (float(s.to_value("arcmin")) for s in scales)
    if not np.isclose(sx, sy, rtol=1e-6):
        raise InputError(f"pixels are not square: {sx:.6g} x {sy:.6g} arcmin; resample to square pixels")
    matrix = wcs.celestial.pixel_scale_matrix
    if abs(matrix[0, 1]) > 1e-9 * abs(matrix).max() or abs(matrix[1, 0]) > 1e-9 * abs(matrix).max():
        raise InputError("the WCS is rotated relative to the pixel grid; give a north-up grid")
    return sx


def _pixel_scale(pixscale: Any, wcs: WCS | None, source: str) -> float:
    from_wcs = pixel_arcmin_of_wcs(wcs) if wcs is not None else None
    from_key = None
    if pixscale is not None:
        try:
            from_key = float(pixscale)
        except (TypeError, ValueError):
            raise InputError(f"{source}: PIXSCALE must be a number of arcmin; got {pixscale!r}") from None
    if from_wcs is None and from_key is None:
        raise InputError(
            f"{source}: no pixel scale: give a celestial WCS or the keyword PIXSCALE (arcmin per pixel)"
        )
    if from_wcs is not None and from_key is not None and not np.isclose(from_wcs, from_key, rtol=1e-4):
        raise InputError(f"{source}: PIXSCALE = {from_key} arcmin disagrees with the WCS ({from_wcs:.6g} arcmin)")
    return from_wcs if from_wcs is not None else from_key


def pixel_arcmin_of_hdu(hdu: Any, primary: Any, source: str) -> float:
    """Pixel side in arcmin of an image HDU: from a celestial WCS (on the HDU or the primary header) or the
    keyword ``PIXSCALE`` (arcmin; the HDU's, else the primary's); both, when given, must agree to 1e-4."""
    header, top = hdu.header, primary.header
    wcs = _celestial_wcs(header) or _celestial_wcs(top)
    return _pixel_scale(header.get("PIXSCALE", top.get("PIXSCALE")), wcs, source)


def _check_square(g1: np.ndarray, source: str) -> None:
    if g1.ndim == 2 and g1.shape[0] != g1.shape[1]:
        raise InputError(f"{source}: maps must be square (ny == nx); got {g1.shape[0]} x {g1.shape[1]}")


#: astropy's warnings for a short or corrupted FITS file (it then reads what it can, silently).
_DAMAGE = re.compile(r"truncated|Error validating header|corrupted", re.IGNORECASE)


def _hdu_data(hdu, path: Path, name: str, notes: list[str]) -> np.ndarray:
    """An image HDU's data as float64; InputError (naming a truncated file) when it cannot be read."""
    try:
        data = hdu.data
    except Exception as exc:  # astropy raises ValueError/OSError/TypeError for short or damaged data
        why = "; ".join(notes) or f"{type(exc).__name__}: {exc}"
        raise InputError(f"{path}: HDU {name} cannot be read, the file is truncated or damaged ({why}); "
                         "write or download it again") from None
    if data is None:
        raise InputError(f"{path}: HDU {name} holds no data")
    return np.asarray(data, dtype=np.float64)


def _read_fits_shear(path: Path) -> ShearMap:
    with warnings.catch_warnings(record=True) as caught:  # astropy's warnings of a damaged file become our error
        warnings.simplefilter("always")
        try:
            hdul = fits.open(path, memmap=False)
        except Exception as exc:
            raise InputError(f"{path}: not a readable FITS file ({exc})") from None
        with hdul:
            notes = [str(w.message) for w in caught if "truncated" in str(w.message)]
            _check_unique(path, [hdu.name.upper() for hdu in hdul], "HDU")
            names = {hdu.name.upper(): hdu for hdu in hdul}
            missing = [n for n in ("G1", "G2") if n not in names]
            if missing:
                found = ", ".join(h.name for h in hdul) or "none"
                raise InputError(f"{path}: missing image HDU(s) {', '.join(missing)}; found HDUs: {found}")
            maps = {n: _hdu_data(names[n], path, n, notes) for n in ("G1", "G2", "MASK", "NOISE") if n in names}
            header_g1, primary = names["G1"].header, hdul[0].header
            wcs = _celestial_wcs(header_g1) or _celestial_wcs(primary)
            pixscale = header_g1.get("PIXSCALE", primary.get("PIXSCALE"))
        damaged = [str(w.message).split("\n")[0] for w in caught if _DAMAGE.search(str(w.message))]
    if damaged:  # astropy reads what it can of a short file (even dropping an HDU): refuse it
        raise InputError(f"{path}: the file is truncated or damaged ({damaged[0]}); write or download it again")
    return _build_shear(maps, pixscale, wcs, str(path))


def _read_npz_shear(path: Path) -> ShearMap:
    try:
        with np.load(path, allow_pickle=False) as data:
            _check_unique(path, [k.upper() for k in data.files], "array")
            maps = {k.upper(): np.asarray(data[k]) for k in data.files}
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{path}: not a readable .npz file ({exc})") from None
    missing = [n for n in ("G1", "G2") if n not in maps]
    if missing:
        raise InputError(f"{path}: missing array(s) {', '.join(missing)}; found: {', '.join(maps) or 'none'}")
    text = [n for n in SHEAR_MAPS if n in maps and maps[n].dtype.kind not in "biuf"]
    if text:
        raise InputError(f"{path}: array(s) {', '.join(text)} hold {maps[text[0]].dtype} values, not numbers; "
                         "G1, G2, MASK and NOISE must be numeric maps")
    pixscale = maps.pop("PIXSCALE", None)
    if pixscale is not None:
        pixscale = pixscale.item() if np.size(pixscale) == 1 else pixscale
    return _build_shear(maps, pixscale, None, str(path))


def _check_unique(path: Path, names: list[str], kind: str) -> None:
    """Refuse a file holding one of the shear maps (:data:`SHEAR_MAPS`) twice: which one is meant is unknown."""
    twice = [n for n in SHEAR_MAPS if names.count(n) > 1]
    if twice:
        raise InputError(f"{path}: {', '.join(f'{names.count(n)} {kind}s named {n}' for n in twice)}; "
                         f"give each of {', '.join(SHEAR_MAPS)} once")


def _build_shear(maps: dict, pixscale: Any, wcs: WCS | None, source: str) -> ShearMap:
    g1 = maps["G1"]
    if g1.ndim != 2:
        raise InputError(f"{source}: G1 must be a 2-D map; got shape {g1.shape}")
    _check_square(g1, source)
    if g1.shape[0] < MIN_MAP_SIZE:
        raise InputError(f"{source}: the maps are {g1.shape[0]} x {g1.shape[1]} pixels; a reconstruction needs at "
                         f"least {MIN_MAP_SIZE} x {MIN_MAP_SIZE}")
    pixel = _pixel_scale(pixscale, wcs, source)
    mask = maps.get("MASK")
    meta = {"input": source}
    if mask is not None:
        if not np.all(np.isfinite(mask)):  # said by reconstruct (``mask_nonfinite``)
            meta["mask_nonfinite"] = int(np.count_nonzero(~np.isfinite(mask)))
        mask = np.where(np.isfinite(mask), mask, 0.0)  # NaN (or inf) reads as masked
        other = np.unique(mask[(mask != 0) & (mask != 1)])
        if other.size:
            raise InputError(f"{source}: MASK must hold only 1 (observed) and 0 (masked); found "
                             f"{', '.join(f'{v:g}' for v in other[:5])}{' ...' if other.size > 5 else ''}")
    try:
        shear = ShearMap(
            g1=g1, g2=maps["G2"], mask=mask, noise=maps.get("NOISE"), pixel_arcmin=pixel, wcs=wcs,
            meta=meta,
        )
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None
    observed = shear.observed
    modulus = np.hypot(shear.g1, shear.g2)[observed]
    if np.any(modulus >= 1.0):
        raise InputError(f"{source}: {int(np.count_nonzero(modulus >= 1.0))} observed pixel(s) have |g| >= 1 (up to "
                         f"{modulus.max():.4g}); reduced shear must be < 1: mask them (MASK = 0) or check the maps")
    if shear.noise is not None and shear.noise[observed].min() <= MIN_NOISE:
        raise InputError(f"{source}: NOISE holds {shear.noise[observed].min():.3g} in observed pixels; a shear noise "
                         f"(std per component, typically 0.01 to 1) must be > {MIN_NOISE:g}: check its units")
    return shear


def read_shear_map(path: str | Path) -> ShearMap:
    """Read gridded shear from a FITS or ``.npz`` file (see the module docstring for the contract)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.suffix.lower() == ".npz":
        return _read_npz_shear(path)
    if _is_fits(path):
        return _read_fits_shear(path)
    raise InputError(f"{path}: unknown file type; expected FITS (.fits) or NumPy (.npz) gridded shear")


def _write_atomic(hdul: fits.HDUList, path: Path) -> Path:
    """Write the HDUs atomically (:func:`miu2net.io.files.atomic_write`): readers never see half a file."""
    return atomic_write(path, lambda tmp: hdul.writeto(tmp, overwrite=True))


def provenance_cards(kappa: KappaMap) -> list[tuple[str, Any, str]]:
    """Header cards (keyword, value, comment) describing how a map was made."""
    meta = kappa.meta
    cards = [
        ("METHOD", meta.get("method", "unknown"), "reconstruction method"),
        ("MODEL", str(meta.get("model", "none"))[-68:], ""),
        ("OPTIONS", json.dumps(meta.get("options", {}), sort_keys=True), ""),
        ("VERSION", __version__, "miu2net version"),
        ("PIXSCALE", float(kappa.pixel_arcmin), "pixel side [arcmin]"),
    ]
    if meta.get("survey"):
        cards.append(("SURVEY", str(meta["survey"])[:68], "survey preset of the defaults"))
    if meta.get("model_config"):
        cards.append(("MODELCFG", json.dumps(meta["model_config"], sort_keys=True), "trained model's card"))
    if meta.get("chi2dof") is not None:
        cards.append(_finite_card("CHI2DOF", meta["chi2dof"], "reduced chi2 of data vs forward-modelled shear"))
    if meta.get("b_to_e") is not None:
        cards.append(_finite_card("BTOE", meta["b_to_e"], "large-scale B/E power of the shear (ell < 2000)",
                                  why="the shear has no large-scale E-mode power"))
    if meta.get("dataok") is not None:
        cards.append(("DATAOK", bool(meta["dataok"]), "CHI2DOF, BTOE inside the calibrated ranges"))
    if meta.get("estimate"):
        what = "minimum-RMSE map" if meta["estimate"] == "mean" else "power-faithful map"
        cards.append(("ESTIMATE", str(meta["estimate"]), f"KAPPA_E is the {what}"))
    if meta.get("coverage") is not None:
        cards.append(_finite_card("COVERAGE", meta["coverage"], "probability content of KAPPA_E +- SIGMA"))
    if meta.get("binned"):
        binned = meta["binned"]
        cards.append(("BINNED", int(binned["factor"]), "input binned NxN to the model's pixel"))
        cards.append(("INPIXSC", float(binned["from_pixel_arcmin"]), "input pixel side before binning [arcmin]"))
    if meta.get("input"):
        cards.append(("INPUT", str(meta["input"])[-68:], ""))
    if meta.get("wcs_note"):
        cards.append(("WCSNOTE", meta["wcs_note"], ""))
    return cards


def _finite_card(key: str, value: Any, comment: str, *, why: str = "") -> tuple[str, Any, str]:
    """A float card; FITS headers hold no NaN or infinity, so a non-finite value becomes a COMMENT card
    saying that ``key`` was left out, and why."""
    value = float(value)
    if np.isfinite(value):
        return key, value, comment
    return "COMMENT", f"{key} left out: {value}" + (f"; {why}" if why else ""), ""


def _set_card(header: fits.Header, key: str, value: Any, comment: str) -> None:
    if key == "COMMENT":
        header.add_comment(value)
    else:
        header[key] = (value, comment)


def write_kappa_map(kappa: KappaMap, path: str | Path) -> Path:
    """Write a KappaMap to FITS (contract in the module docstring), atomically; returns the path."""
    path = Path(path)
    meta = dict(kappa.meta)
    wcs = kappa.wcs
    if wcs is None:
        wcs = default_wcs(kappa.shape, kappa.pixel_arcmin)
        meta["wcs_note"] = "input had no WCS: field centre set to RA=0 Dec=0"
    cards = provenance_cards(KappaMap(kappa.kappa_e, kappa.kappa_b, kappa.pixel_arcmin, meta=meta))
    primary = fits.PrimaryHDU()
    for key, value, comment in cards:
        _set_card(primary.header, key, value, comment)
    wcs_header = wcs.celestial.to_header()
    hdus = [primary]
    planes = [("KAPPA_E", kappa.kappa_e), ("KAPPA_B", kappa.kappa_b), ("SIGMA", kappa.sigma),
              ("SIGMA_NOISE", kappa.sigma_noise), ("SNR", kappa.snr), ("KAPPA_POWER", kappa.kappa_power),
              ("KAPPA_MEAN", kappa.kappa_mean)]
    for name, data in planes:
        if data is None:
            continue
        hdu = fits.ImageHDU(np.asarray(data, dtype=np.float32), name=name)
        hdu.header.update(wcs_header)
        if name == "KAPPA_E":
            for key, value, comment in cards:
                _set_card(hdu.header, key, value, comment)
        if name == "SNR":
            hdu.header["SNRDEF"] = (kappa.snr_definition, "S/N definition")
        hdus.append(hdu)
    return _write_atomic(fits.HDUList(hdus), path)


def write_kappa_planes(
    planes: dict[str, np.ndarray], path: str | Path, *, pixel_arcmin: float, header: dict | None = None,
    wcs: WCS | None = None,
) -> Path:
    """Write named convergence maps (e.g. KAPPA_X, KAPPA_Y, KAPPA_Z) with a WCS and PIXSCALE, atomically."""
    path = Path(path)
    shape = next(iter(planes.values())).shape
    wcs = wcs if wcs is not None else default_wcs(shape, pixel_arcmin)
    primary = fits.PrimaryHDU()
    primary.header["PIXSCALE"] = (float(pixel_arcmin), "pixel side [arcmin]")
    primary.header["VERSION"] = (__version__, "miu2net version")
    for key, value in (header or {}).items():
        primary.header[key] = value
    hdus = [primary]
    for name, data in planes.items():
        hdu = fits.ImageHDU(np.asarray(data, dtype=np.float32), name=name)
        hdu.header.update(wcs.celestial.to_header())
        hdu.header["PIXSCALE"] = (float(pixel_arcmin), "pixel side [arcmin]")
        hdus.append(hdu)
    return _write_atomic(fits.HDUList(hdus), path)


def read_kappa_map(path: str | Path) -> KappaMap:
    """Read a convergence FITS written by :func:`write_kappa_map` (or any file with KAPPA_E)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    with fits.open(path, memmap=False) as hdul:
        names = {hdu.name.upper(): hdu for hdu in hdul}
        if "KAPPA_E" not in names:
            raise InputError(f"{path}: no KAPPA_E HDU; found {', '.join(h.name for h in hdul)}")
        head = names["KAPPA_E"].header
        wcs = _celestial_wcs(head)
        pixel = _pixel_scale(head.get("PIXSCALE"), wcs, str(path))

        def plane(name):
            return np.asarray(names[name].data, dtype=np.float64) if name in names else None

        kappa_e = plane("KAPPA_E")
        kappa_b = plane("KAPPA_B")
        meta = {"method": head.get("METHOD"), "model": head.get("MODEL"), "version": head.get("VERSION")}
        if "OPTIONS" in head:
            meta["options"] = json.loads(head["OPTIONS"])
        if "CHI2DOF" in head:
            meta["chi2dof"] = head["CHI2DOF"]
        if "DATAOK" in head:
            meta["dataok"] = head["DATAOK"]
        if "BTOE" in head:
            meta["b_to_e"] = head["BTOE"]
        if "ESTIMATE" in head:
            meta["estimate"] = head["ESTIMATE"]
        if "BINNED" in head:
            meta["binned"] = {"factor": int(head["BINNED"]), "from_pixel_arcmin": head.get("INPIXSC"),
                              "to_pixel_arcmin": pixel}
        return KappaMap(
            kappa_e=kappa_e,
            kappa_b=kappa_b if kappa_b is not None else np.zeros_like(kappa_e),
            pixel_arcmin=pixel,
            sigma=plane("SIGMA"),
            sigma_noise=plane("SIGMA_NOISE"),
            wcs=wcs,
            meta=meta,
            kappa_power=plane("KAPPA_POWER"),
            kappa_mean=plane("KAPPA_MEAN"),
        )


def write_shear_map(shear: ShearMap, path: str | Path) -> Path:
    """Write gridded shear to FITS by the input contract (G1, G2, MASK, NOISE, WCS or PIXSCALE), atomically."""
    path = Path(path)
    primary = fits.PrimaryHDU()
    primary.header["PIXSCALE"] = (float(shear.pixel_arcmin), "pixel side [arcmin]")
    wcs_header = shear.wcs.celestial.to_header() if shear.wcs is not None else fits.Header()
    hdus = [primary]
    noise = None if shear.noise is None else np.where(np.isfinite(shear.noise), shear.noise, 0.0)
    for name, data in (("G1", shear.g1), ("G2", shear.g2), ("MASK", shear.mask), ("NOISE", noise)):
        if data is None:
            continue
        hdu = fits.ImageHDU(np.asarray(data, dtype=np.float32), name=name)
        hdu.header.update(wcs_header)
        hdu.header["PIXSCALE"] = (float(shear.pixel_arcmin), "pixel side [arcmin]")
        hdus.append(hdu)
    return _write_atomic(fits.HDUList(hdus), path)
