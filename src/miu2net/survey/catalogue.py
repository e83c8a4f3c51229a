r"""Galaxy shear catalogues: reading, column mapping, bias correction, sign conventions and cuts.

Sign convention. After reading, ``e1`` and ``e2`` are taken relative to the local (east, north)
axes of the tangent plane, as a Cartesian frame: ``e1 > 0`` is a galaxy elongated east-west (along
RA), ``e2 > 0`` one elongated along the north-east/south-west diagonal; the tangential ellipticity about
a point at position angle :math:`\phi` (from east towards north) is
:math:`e_t = -\mathrm{Re}[e\, e^{-2i\phi}]`. Surveys differ: ``flip_e1`` / ``flip_e2`` negate a component
on reading so that the catalogue matches this convention (e.g. a catalogue whose e2 is defined in a
(west, north) frame needs ``flip_e2``). A synthetic NFW halo proves the convention in the tests.

Calibration: :math:`e = (e_{\rm obs} - c)/(1 + m)` per galaxy when ``m``, ``c1``, ``c2`` columns are given.
Dividing each galaxy by its own :math:`1 + m` is unbiased but noisier than dividing a bin's mean
ellipticity by the bin's mean :math:`1 + m` (as DES and KiDS do); the per-galaxy form is kept so that
the calibrated ellipticities can be rotated for noise realisations. Later work: bin-averaged responses.
"""

from __future__ import annotations

import logging
import operator
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from miu2net.errors import InputError

log = logging.getLogger(__name__)

#: Smallest RA accepted, degrees: catalogues in the [-180, 180] convention are read as ra mod 360.
RA_MIN = -180.0
COLUMNS = ("ra", "dec", "e1", "e2", "weight", "m", "c1", "c2")
REQUIRED = ("ra", "dec", "e1", "e2")
_CUT = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(<=|>=|==|!=|<|>)\s*([-+0-9.eE]+)\s*$")
_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne}


@dataclass(frozen=True)
class Catalogue:
    """Galaxies with positions (degrees), calibrated ellipticities in the (east, north) frame and weights."""

    ra: np.ndarray
    dec: np.ndarray
    e1: np.ndarray
    e2: np.ndarray
    weight: np.ndarray
    meta: dict

    def __len__(self) -> int:
        return len(self.ra)


def _read_table(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """All columns of a FITS table, CSV or Parquet file, and the units (TUNIT) the file gives them.

    Missing cells (empty CSV cells, FITS nulls, Parquet nulls) read as NaN; a column name given twice is
    refused (which one is meant is unknown).
    """
    import warnings

    if not path.exists():
        raise InputError(f"{path}: no such file")
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix.lower() == ".gz" else path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            _check_unique_names(path, pq.read_schema(path).names)
            table = pq.read_table(path)
            return {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}, {}
        from astropy.table import Table
        from astropy.units import UnitsWarning

        if suffix in (".fits", ".fit", ".fits.gz", ".fit.gz"):
            _check_unique_names(path, _fits_column_names(path))
            with warnings.catch_warnings():  # an unknown TUNIT is judged below, for the columns used
                warnings.simplefilter("ignore", UnitsWarning)
                table = Table.read(path, format="fits")
        elif suffix in (".csv", ".txt", ".dat", ".csv.gz"):
            _check_unique_names(path, _csv_header(path))  # astropy renames a repeated name (e1, e1_1)
            table = Table.read(path, format="ascii.csv")
        else:
            raise InputError(f"{path}: unknown catalogue type; expected a FITS table, CSV or Parquet file")
        units = {name: str(table[name].unit) for name in table.colnames if table[name].unit is not None}
        return {name: _filled(table[name]) for name in table.colnames}, units
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{path}: cannot read the catalogue ({type(exc).__name__}: {exc})") from None


def _filled(column) -> np.ndarray:
    """An astropy column as an array, its masked (missing) cells NaN (a text column becomes objects)."""
    mask = getattr(column, "mask", None)
    if mask is None or not np.any(mask):
        return np.asarray(column)
    if column.dtype.kind in "biuf":
        return np.ma.asarray(column).astype(np.float64).filled(np.nan)
    return np.ma.asarray(column).astype(object).filled(np.nan)


def _fits_column_names(path: Path) -> list[str]:
    """The column names of the first table HDU of a FITS file (the one astropy's Table.read reads)."""
    from astropy.io import fits

    with fits.open(path, memmap=False) as hdul:
        for hdu in hdul:
            if isinstance(hdu, (fits.BinTableHDU, fits.TableHDU)):
                return list(hdu.columns.names)
    return []


def _csv_header(path: Path) -> list[str]:
    """The column names of a CSV file's header line (its first non-blank line)."""
    import csv
    import gzip

    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rt", newline="") as handle:
        for row in csv.reader(handle):
            if any(cell.strip() for cell in row):
                return [cell.strip() for cell in row]
    return []


def _check_unique_names(path: Path, names: list[str]) -> None:
    """Refuse a table with a column name given twice."""
    twice = sorted(name for name, count in Counter(names).items() if count > 1)
    if twice:
        raise InputError(f"{path}: the column name(s) {', '.join(map(repr, twice))} appear more than once; "
                         "give every column its own name")


def parse_cut(text: str) -> tuple[str, str, float]:
    """``"mag < 24.5"`` to ``("mag", "<", 24.5)``; only comparisons of a column with a number."""
    match = _CUT.match(text)
    if not match:
        raise InputError(f"cannot read the cut {text!r}; write COLUMN OP NUMBER, e.g. 'snr > 10' (OP: < <= > >= == !=)")
    return match.group(1), match.group(2), float(match.group(3))


def read_catalogue(
    path: str | Path,
    *,
    columns: dict[str, str] | None = None,
    flip_e1: bool = False,
    flip_e2: bool = False,
    cuts: list[str] | tuple[str, ...] = (),
) -> Catalogue:
    """Read a shear catalogue and return calibrated ellipticities in the (east, north) frame.

    Args:
        path: FITS table, CSV or Parquet file.
        columns: our name -> the file's column name, for any of ra, dec (degrees, or the angle unit of
            a FITS table's TUNIT), e1, e2, weight, m, c1, c2. Unmapped names are looked up as they are
            (case-insensitive). weight defaults to 1, m and c to 0 when the column is absent. No two
            roles may use the same column.
        flip_e1, flip_e2: negate a component on reading (the survey's sign convention).
        cuts: selections like ``"snr > 10"`` on any column, all applied (AND).

    Rows with a missing (empty or non-numeric cell), NaN or infinite value in any used column are
    dropped and counted in the log and in ``meta["n_dropped_nonfinite"]``; rows with impossible values
    (:math:`|e| \\ge 1`, weight < 0, :math:`m \\le -1`) likewise, per reason, in ``meta["n_dropped_invalid"]``.
    RA is accepted in [0, 360] or [-180, 180] degrees and returned in [0, 360) (negative values counted
    in ``meta["n_ra_wrapped"]``). Raises InputError for a missing column (naming the columns that
    exist), a column name given twice, a text column, a position unit that is not an angle, an empty
    result, an all-NaN column, positions out of range, or no positive weight.
    """
    path = Path(path)
    table, units = _read_table(path)
    lower = {name.lower(): name for name in table}
    mapping = {key: value for key, value in (columns or {}).items() if value}
    unknown = set(mapping) - set(COLUMNS)
    if unknown:
        raise InputError(f"unknown column role(s) {', '.join(sorted(unknown))}; roles are {', '.join(COLUMNS)}")

    def find(role: str) -> str | None:
        wanted = mapping.get(role, role)
        name = _lookup(table, lower, wanted)
        if name is None and (role in mapping or role in REQUIRED):
            raise InputError(
                f"{path}: no column {wanted!r} for {role}; the catalogue has: {', '.join(table) or 'no columns'}"
            )
        return name

    names = {role: find(role) for role in COLUMNS}
    shared = Counter(name for name in names.values() if name is not None)
    for name, count in shared.items():
        if count > 1:
            roles = [role for role, used in names.items() if used == name]
            raise InputError(f"{path}: the column {name!r} is given for {' and '.join(roles)}; each of them needs "
                             "its own column (check --ra-col/--dec-col/--e1-col/--e2-col/...)")
    n_rows = len(next(iter(table.values()))) if table else 0
    if n_rows == 0:
        raise InputError(f"{path}: the catalogue is empty (no rows)")
    data = {}
    for role, name in names.items():
        if name is None:
            continue
        data[role] = _numeric(table[name], f"{path}: column {name!r} ({role})")
        if role in ("ra", "dec"):
            data[role] = data[role] * _degrees_per_unit(units.get(name), f"{path}: column {name!r} ({role})")
        if not np.isfinite(data[role]).any():
            raise InputError(f"{path}: column {name!r} ({role}) has no finite value (all NaN or infinite)")
    keep = np.ones(n_rows, dtype=bool)
    for values in data.values():
        keep &= np.isfinite(values)
    n_dropped = int(n_rows - keep.sum())
    if n_dropped:
        log.warning("dropped %d of %d rows with missing, NaN or infinite values in %s", n_dropped, n_rows, path)
    invalid = _impossible_rows(data, keep)
    for reason, bad in invalid.items():
        bad &= keep  # a row is counted under its first reason only
        if bad.any():
            log.warning("dropped %d of %d rows with %s in %s", int(bad.sum()), n_rows, reason, path)
        keep &= ~bad
    for cut in cuts:
        column, op, value = parse_cut(cut)
        name = _lookup(table, lower, column)
        if name is None:
            raise InputError(f"{path}: no column {column!r} for the cut {cut!r}; the catalogue has: {', '.join(table)}")
        keep &= _OPS[op](_numeric(table[name], f"{path}: column {name!r} of the cut {cut!r}"), value)
    n_invalid = {reason: int(bad.sum()) for reason, bad in invalid.items()}
    n_cut = int(n_rows - n_dropped - keep.sum() - sum(n_invalid.values()))
    if not keep.any():
        raise InputError(f"{path}: no galaxy left after dropping non-finite rows"
                         + "".join(f", {n} rows with {r}" for r, n in n_invalid.items()) + " and applying the cuts")
    data = {role: values[keep] for role, values in data.items()}
    ra, dec = data["ra"], data["dec"]
    if np.any(dec < -90) or np.any(dec > 90):
        raise InputError(f"{path}: dec out of range [-90, 90] degrees (found {dec.min():.4g} to {dec.max():.4g})")
    if np.any(ra < RA_MIN) or np.any(ra > 360):
        raise InputError(f"{path}: ra out of range: expected degrees in [0, 360] or [-180, 180] (negative values "
                         f"are read as ra + 360); found {ra.min():.4g} to {ra.max():.4g}")
    n_wrapped = int(np.count_nonzero(ra < 0))
    weight = data.get("weight", np.ones_like(ra))
    if not np.any(weight > 0):
        raise InputError(f"{path}: no galaxy has a weight > 0")
    m = data.get("m", 0.0)
    e1 = (data["e1"] - data.get("c1", 0.0)) / (1.0 + m)
    e2 = (data["e2"] - data.get("c2", 0.0)) / (1.0 + m)
    if flip_e1:
        e1 = -e1
    if flip_e2:
        e2 = -e2
    meta = {"input": str(path), "n_rows": n_rows, "n_dropped_nonfinite": n_dropped,
            "n_dropped_invalid": {r: n for r, n in n_invalid.items() if n}, "n_ra_wrapped": n_wrapped, "n_cut": n_cut,
            "columns": {k: v for k, v in names.items() if v}, "flip_e1": flip_e1, "flip_e2": flip_e2,
            "cuts": list(cuts)}
    return Catalogue(ra=np.mod(ra, 360.0), dec=dec, e1=e1, e2=e2, weight=weight, meta=meta)


def as_float(values: np.ndarray) -> np.ndarray:
    """A column as float64; cells that are not numbers (empty, null, text) read as NaN, i.e. missing."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        pass
    out = np.full(len(values), np.nan)
    for i, cell in enumerate(values):
        try:
            out[i] = float(cell)
        except (TypeError, ValueError):
            pass
    return out


def _numeric(values: np.ndarray, what: str) -> np.ndarray:
    """:func:`as_float`, and InputError for a text column in which no cell is a number."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        out = as_float(values)
    if np.isnan(out).all():
        raise InputError(f"{what} is not numeric (no cell holds a number); give a numeric column")
    return out


def _degrees_per_unit(unit: str | None, what: str) -> float:
    """The factor from a column's unit (FITS TUNIT) to degrees: 1 without a unit; InputError for a unit that
    is not an angle."""
    import astropy.units as u

    if unit is None or unit in ("", "deg"):
        return 1.0
    parsed = None
    for text in (unit, unit.strip().lower(), unit.strip().lower().removesuffix("s")):  # DEG, degrees
        try:
            parsed = u.Unit(text)
            break
        except (TypeError, ValueError):
            continue
    if parsed is None or parsed.physical_type != "angle":
        kind = "a unit astropy does not know" if parsed is None else f"a {parsed.physical_type}, not an angle"
        raise InputError(f"{what} has the unit {unit!r} ({kind}); positions must be angles, in degrees "
                         "(TUNIT 'deg') or another angle unit (rad, arcmin, ...)")
    return float(parsed.to(u.deg))


def _impossible_rows(data: dict[str, np.ndarray], finite: np.ndarray) -> dict[str, np.ndarray]:
    """Finite rows whose values no galaxy can have, by reason: an observed ellipticity of modulus
    :math:`|e| \\ge 1` (both the ellipticity and the distortion definitions stay below 1), a negative
    weight, or a multiplicative bias :math:`m \\le -1` (a non-positive response :math:`1 + m`)."""
    with np.errstate(invalid="ignore"):
        bad = {"|e| >= 1": finite & (np.hypot(data["e1"], data["e2"]) >= 1.0)}
        if "weight" in data:
            bad["weight < 0"] = finite & (data["weight"] < 0)
        if "m" in data:
            bad["m <= -1"] = finite & (data["m"] <= -1.0)
    return bad


def _lookup(table: dict, lower: dict, column: str) -> str | None:
    """The table's name for ``column``: exact match first, then case-insensitive; None if absent."""
    if column in table:
        return column
    return lower.get(column.lower())
