"""HEALPix convergence maps in FITS, by healpy's conventions (written and read with healpy itself).

One binary-table HDU with a column per map, named ``KAPPA_E``, ``KAPPA_B`` and, where the method gives
them, ``SIGMA``, ``SIGMA_NOISE``, ``SNR`` and ``NGAL`` (galaxies per pixel); RING ordering; celestial
(equatorial, ``COORDSYS = 'C'``) coordinates; ``hp.UNSEEN`` outside the footprint. A partial-sky map
(the default: a survey covers a fraction of the sky) is written with explicit indexing (a ``PIXEL``
column, ``INDXSCHM = 'EXPLICIT'``, ``OBJECT = 'PARTIAL'``), which ``healpy.read_map`` reads back as a
full-sky array with ``UNSEEN`` outside. The header holds ``NSIDE``, ``ORDERING``, ``COORDSYS`` (healpy's)
and the provenance (``METHOD``, ``OPTIONS``, ``VERSION``, ``PIXAREA`` in arcmin², ``INPUT``, ``NGALTOT``,
``FSKY``, ``PATCHES`` when flat patches were blended, ``CHI2DOF`` where computed). Written to a
temporary name and renamed: a crash never leaves half a file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from miu2net import __version__
from miu2net.errors import InputError
from miu2net.io.files import atomic_write
from miu2net.io.fits import _finite_card

#: The map columns in the order they are written (those present).
HEALPIX_MAPS = ("KAPPA_E", "KAPPA_B", "SIGMA", "SIGMA_NOISE", "SNR", "NGAL")


def healpix_provenance_cards(meta: dict, nside: int, n_observed: int) -> list[tuple[str, Any, str]]:
    """Header cards (keyword, value, comment) describing how a HEALPix map was made."""
    import healpy as hp

    cards = [
        ("METHOD", str(meta.get("method", "unknown")), "reconstruction method"),
        ("OPTIONS", json.dumps(meta.get("options", {}), sort_keys=True, default=str), ""),
        ("VERSION", __version__, "miu2net version"),
        ("PIXAREA", float(hp.nside2pixarea(nside, degrees=True) * 3600.0), "pixel area [arcmin^2]"),
        ("FSKY", float(n_observed / hp.nside2npix(nside)), "observed fraction of the sky"),
    ]
    if meta.get("model"):
        cards.append(("MODEL", str(meta["model"])[-68:], ""))
    if meta.get("n_galaxies") is not None:
        cards.append(("NGALTOT", int(meta["n_galaxies"]), "galaxies used"))
    if meta.get("patches") is not None:
        cards.append(("PATCHES", int(meta["patches"]), "flat gnomonic patches blended onto the sphere"))
    if meta.get("patch_pixel_arcmin") is not None:
        cards.append(("PATCHPIX", float(meta["patch_pixel_arcmin"]), "pixel side of the flat patches [arcmin]"))
    if meta.get("chi2dof") is not None:
        cards.append(_finite_card("CHI2DOF", meta["chi2dof"], "reduced chi2 of data vs forward-modelled shear"))
    if meta.get("input"):
        cards.append(("INPUT", str(meta["input"])[-68:], ""))
    return cards


def write_healpix_maps(maps: dict[str, np.ndarray], path: str | Path, *, meta: dict | None = None,
                       partial: bool = True) -> Path:
    """Write full-sky RING arrays (``UNSEEN`` outside the footprint) as one HEALPix FITS file, atomically.

    Args:
        maps: column name -> array of ``12 NSIDE²`` values; ``KAPPA_E`` is required and sets the
            footprint of a partial-sky file (its pixels that are not ``UNSEEN``).
        path: the output file.
        meta: provenance (see :func:`healpix_provenance_cards`).
        partial: explicit indexing of the observed pixels only (healpy's partial-sky format).
    """
    import healpy as hp

    if "KAPPA_E" not in maps:
        raise InputError("a HEALPix convergence file needs a KAPPA_E map")
    names = [name for name in HEALPIX_MAPS if name in maps] + sorted(set(maps) - set(HEALPIX_MAPS))
    arrays = [np.asarray(maps[name], dtype=np.float64) for name in names]
    npix = arrays[0].size
    if not hp.isnpixok(npix) or any(a.shape != (npix,) for a in arrays):
        raise InputError(f"HEALPix maps must be 1-D arrays of 12 NSIDE^2 values, all alike; got "
                         f"{', '.join(f'{n} {a.shape}' for n, a in zip(names, arrays))}")
    nside = hp.npix2nside(npix)
    observed = arrays[0] != hp.UNSEEN
    if not observed.any():
        raise InputError("the KAPPA_E map has no observed pixel (all UNSEEN)")
    for name, array in zip(names, arrays):
        if not np.all(np.isfinite(array[observed])):
            raise InputError(f"the {name} map holds NaN or infinite values in observed pixels")
    cards = healpix_provenance_cards(meta or {}, nside, int(observed.sum()))
    header = [(k, v, c) if k != "COMMENT" else ("COMMENT", v) for k, v, c in cards]

    def write(tmp: str) -> None:
        hp.write_map(tmp, arrays, nest=False, coord="C", column_names=names, partial=partial, overwrite=True,
                     dtype=[np.float32] * len(arrays), extra_header=header)

    return atomic_write(Path(path), write, suffix=".fits")


def read_healpix_maps(path: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """The maps (full-sky RING arrays, ``UNSEEN`` outside) and header of a file written by
    :func:`write_healpix_maps` (or any healpy map file with named columns)."""
    import healpy as hp
    from astropy.io import fits

    path = Path(path)
    try:
        with fits.open(path) as hdul:
            columns = [c.name for c in hdul[1].columns if c.name != "PIXEL"]
        data, header = hp.read_map(path, field=tuple(range(len(columns))), h=True, nest=False)
    except Exception as exc:
        raise InputError(f"{path}: not a readable HEALPix FITS file ({type(exc).__name__}: {exc})") from None
    data = np.atleast_2d(data)
    return {name: np.asarray(values, dtype=np.float64) for name, values in zip(columns, data)}, dict(header)
