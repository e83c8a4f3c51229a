r"""Catalogues too large to hold at once: read in chunks of rows, each cleaned as a whole catalogue is.

A survey's catalogue (10⁸ galaxies and more) is read piece by piece: Parquet by row group, a FITS table
by slices of its memory-mapped rows, CSV by blocks (pyarrow's streaming reader). Every chunk goes through
the rules of :func:`miu2net.survey.catalogue.read_catalogue`: the same column roles and look-up, units
(TUNIT), missing or non-numeric cells and impossible rows dropped and counted, cuts, calibration
:math:`e = (e_{\rm obs} - c)/(1 + m)`, sign flips and RA in [0, 360). A chunk may end empty; the reader
refuses a catalogue only when, at the end, no galaxy is left.

:func:`chunk_ranges` splits a Parquet or FITS file into row ranges that :func:`read_chunk` reads
independently, so that Dask workers read their own chunks; CSV is read in order by :func:`iter_chunks`.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from miu2net.errors import InputError
from miu2net.survey.catalogue import (
    _OPS,
    COLUMNS,
    RA_MIN,
    REQUIRED,
    Catalogue,
    _check_unique_names,
    _csv_header,
    _degrees_per_unit,
    _fits_column_names,
    _impossible_rows,
    _lookup,
    as_float,
    parse_cut,
)

#: Rows per chunk by default: about 60 MB of float64 for the eight roles.
DEFAULT_ROWS = 1_000_000
_FITS = (".fits", ".fit", ".fits.gz", ".fit.gz")
_PARQUET = (".parquet", ".pq")
_CSV = (".csv", ".txt", ".dat", ".csv.gz")


def _kind(path: Path) -> str:
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix.lower() == ".gz" else path.suffix.lower()
    for kind, suffixes in (("parquet", _PARQUET), ("fits", _FITS), ("csv", _CSV)):
        if suffix in suffixes:
            return kind
    raise InputError(f"{path}: unknown catalogue type; expected a FITS table, CSV or Parquet file")


def _column_names(path: Path, kind: str) -> list[str]:
    if kind == "parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    return _fits_column_names(path) if kind == "fits" else _csv_header(path)


def _roles(path: Path, names: list[str], columns: dict[str, str] | None) -> dict[str, str]:
    """Our role -> the file's column, by the rules of ``read_catalogue`` (InputError naming what is missing)."""
    _check_unique_names(path, names)
    table = dict.fromkeys(names)
    lower = {name.lower(): name for name in names}
    mapping = {key: value for key, value in (columns or {}).items() if value}
    unknown = set(mapping) - set(COLUMNS)
    if unknown:
        raise InputError(f"unknown column role(s) {', '.join(sorted(unknown))}; roles are {', '.join(COLUMNS)}")
    roles = {}
    for role in COLUMNS:
        wanted = mapping.get(role, role)
        name = _lookup(table, lower, wanted)
        if name is None and (role in mapping or role in REQUIRED):
            raise InputError(f"{path}: no column {wanted!r} for {role}; the catalogue has: {', '.join(names) or 'none'}")
        if name is not None:
            roles[role] = name
    shared = [name for name, count in Counter(roles.values()).items() if count > 1]
    if shared:
        used = [role for role, name in roles.items() if name == shared[0]]
        raise InputError(f"{path}: the column {shared[0]!r} is given for {' and '.join(used)}; each of them needs "
                         "its own column")
    return roles


class ChunkReader:
    """Reads a catalogue's chunks with fixed column roles, flips and cuts; picklable (for Dask workers)."""

    def __init__(self, path: str | Path, *, columns: dict[str, str] | None = None, flip_e1: bool = False,
                 flip_e2: bool = False, cuts: list[str] | tuple[str, ...] = ()) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"{self.path}: no such file")
        self.kind = _kind(self.path)
        names = _column_names(self.path, self.kind)
        self.roles = _roles(self.path, names, columns)
        self.cuts = [parse_cut(cut) for cut in cuts]
        lower = {name.lower(): name for name in names}
        self.cut_columns = []
        for (column, _, _), text in zip(self.cuts, cuts):
            name = _lookup(dict.fromkeys(names), lower, column)
            if name is None:
                raise InputError(f"{self.path}: no column {column!r} for the cut {text!r}; the catalogue has: "
                                 f"{', '.join(names)}")
            self.cut_columns.append(name)
        self.flip_e1, self.flip_e2 = flip_e1, flip_e2
        self.units = self._units()

    @property
    def needed(self) -> list[str]:
        return sorted(set(self.roles.values()) | set(self.cut_columns))

    def _units(self) -> dict[str, float]:
        factors = {"ra": 1.0, "dec": 1.0}
        if self.kind == "fits":
            from astropy.io import fits

            with fits.open(self.path, memmap=True) as hdul:
                hdu = next(h for h in hdul if isinstance(h, (fits.BinTableHDU, fits.TableHDU)))
                for role in ("ra", "dec"):
                    unit = hdu.columns[self.roles[role]].unit
                    factors[role] = _degrees_per_unit(unit, f"{self.path}: column {self.roles[role]!r} ({role})")
        return factors

    def n_rows(self) -> int:
        """The number of rows of the file (CSV: counted by reading it once)."""
        if self.kind == "parquet":
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(self.path).metadata.num_rows)
        if self.kind == "fits":
            from astropy.io import fits

            with fits.open(self.path, memmap=True) as hdul:
                return int(next(h for h in hdul if isinstance(h, (fits.BinTableHDU, fits.TableHDU))).data.shape[0])
        return sum(len(table[self.needed[0]]) for table in self._csv_tables(DEFAULT_ROWS))

    def ranges(self, rows: int = DEFAULT_ROWS) -> list[tuple[int, int]]:
        """Row ranges ``[start, stop)`` that :meth:`read` takes independently: Parquet row groups (split or
        joined towards ``rows``), FITS slices of ``rows`` rows. CSV has none (read it with :meth:`__iter__`)."""
        if self.kind == "csv":
            raise InputError(f"{self.path}: a CSV file is read in order; use Parquet or FITS for parallel reading")
        total = self.n_rows()
        return [(start, min(start + rows, total)) for start in range(0, total, max(1, rows))]

    def read(self, start: int, stop: int) -> tuple[Catalogue, dict]:
        """Rows ``[start, stop)`` cleaned, and the counts of what was dropped (see :func:`merge_counts`)."""
        if self.kind == "parquet":
            import pyarrow.parquet as pq

            file = pq.ParquetFile(self.path)
            pieces, offset = [], 0
            for group in range(file.metadata.num_row_groups):
                n = file.metadata.row_group(group).num_rows
                if offset + n > start and offset < stop:
                    table = file.read_row_group(group, columns=self.needed)
                    lo, hi = max(start - offset, 0), min(stop - offset, n)
                    pieces.append({name: table.column(name).to_numpy(zero_copy_only=False)[lo:hi]
                                   for name in self.needed})
                offset += n
            table = {name: np.concatenate([p[name] for p in pieces]) if pieces else np.zeros(0)
                     for name in self.needed}
        elif self.kind == "fits":
            from astropy.io import fits

            with fits.open(self.path, memmap=True) as hdul:
                data = next(h for h in hdul if isinstance(h, (fits.BinTableHDU, fits.TableHDU))).data
                table = {name: np.array(data.field(name)[start:stop]) for name in self.needed}
        else:
            raise InputError(f"{self.path}: a CSV file is read in order; use Parquet or FITS for parallel reading")
        return self.clean(table)

    def _csv_tables(self, rows: int) -> Iterator[dict[str, np.ndarray]]:
        import pyarrow.csv as pacsv

        options = pacsv.ReadOptions(block_size=max(1 << 20, rows * 64))
        convert = pacsv.ConvertOptions(include_columns=self.needed, strings_can_be_null=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                reader = pacsv.open_csv(self.path, read_options=options, convert_options=convert)
            except Exception as exc:
                raise InputError(f"{self.path}: cannot read the catalogue ({type(exc).__name__}: {exc})") from None
            for batch in reader:
                yield {name: batch.column(name).to_numpy(zero_copy_only=False) for name in self.needed}

    def positions(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """RA and Dec (degrees, finite rows only) of every chunk in file order, whatever the other columns
        hold: enough to judge the footprint before a full read."""
        if self.kind == "csv":
            tables = self._csv_tables(DEFAULT_ROWS)
        elif self.kind == "parquet":
            import pyarrow.parquet as pq

            file = pq.ParquetFile(self.path)
            columns = [self.roles["ra"], self.roles["dec"]]
            tables = ({name: batch.column(name).to_numpy(zero_copy_only=False) for name in columns}
                      for batch in file.iter_batches(batch_size=DEFAULT_ROWS, columns=columns))
        else:
            from astropy.io import fits

            def fits_tables() -> Iterator[dict[str, np.ndarray]]:
                with fits.open(self.path, memmap=True) as hdul:
                    data = next(h for h in hdul if isinstance(h, (fits.BinTableHDU, fits.TableHDU))).data
                    for start in range(0, data.shape[0], DEFAULT_ROWS):
                        yield {name: np.array(data.field(name)[start:start + DEFAULT_ROWS])
                               for name in (self.roles["ra"], self.roles["dec"])}

            tables = fits_tables()
        for table in tables:
            ra = as_float(table[self.roles["ra"]]) * self.units["ra"]
            dec = as_float(table[self.roles["dec"]]) * self.units["dec"]
            finite = np.isfinite(ra) & np.isfinite(dec) & (np.abs(dec) <= 90)
            yield ra[finite], dec[finite]

    def __iter__(self) -> Iterator[tuple[Catalogue, dict]]:
        """Every chunk in file order (any format), with its counts."""
        if self.kind == "csv":
            for table in self._csv_tables(DEFAULT_ROWS):
                yield self.clean(table)
            return
        for start, stop in self.ranges():
            yield self.read(start, stop)

    def clean(self, table: dict[str, np.ndarray]) -> tuple[Catalogue, dict]:
        """One chunk's rows by the rules of ``read_catalogue``; InputError for positions out of range."""
        n_rows = len(table[self.needed[0]]) if self.needed else 0
        data = {role: as_float(table[name]) for role, name in self.roles.items()}
        for role in ("ra", "dec"):
            data[role] = data[role] * self.units[role]
        keep = np.ones(n_rows, dtype=bool)
        for values in data.values():
            keep &= np.isfinite(values)
        n_nonfinite = int(n_rows - keep.sum())
        invalid = _impossible_rows(data, keep)
        n_invalid = {}
        for reason, bad in invalid.items():
            bad &= keep
            n_invalid[reason] = int(bad.sum())
            keep &= ~bad
        before_cuts = int(keep.sum())
        for (column, op, value), name in zip(self.cuts, self.cut_columns):
            with np.errstate(invalid="ignore"):
                keep &= _OPS[op](as_float(table[name]), value)
        data = {role: values[keep] for role, values in data.items()}
        ra, dec = data["ra"], data["dec"]
        if ra.size and (dec.min() < -90 or dec.max() > 90):
            raise InputError(f"{self.path}: dec out of range [-90, 90] degrees (found {dec.min():.4g} to {dec.max():.4g})")
        if ra.size and (ra.min() < RA_MIN or ra.max() > 360):
            raise InputError(f"{self.path}: ra out of range: expected degrees in [0, 360] or [-180, 180]; found "
                             f"{ra.min():.4g} to {ra.max():.4g}")
        m = data.get("m", 0.0)
        e1 = (data["e1"] - data.get("c1", 0.0)) / (1.0 + m)
        e2 = (data["e2"] - data.get("c2", 0.0)) / (1.0 + m)
        counts = {"n_rows": n_rows, "n_dropped_nonfinite": n_nonfinite, "n_dropped_invalid": n_invalid,
                  "n_cut": before_cuts - int(keep.sum()), "n_ra_wrapped": int(np.count_nonzero(ra < 0)),
                  "n_galaxies": int(keep.sum())}
        catalogue = Catalogue(ra=np.mod(ra, 360.0), dec=dec, e1=-e1 if self.flip_e1 else e1,
                              e2=-e2 if self.flip_e2 else e2, weight=data.get("weight", np.ones_like(ra)),
                              meta={"input": str(self.path)})
        return catalogue, counts


def merge_counts(a: dict, b: dict) -> dict:
    """The counts of two chunks together (the reduction of a parallel read)."""
    out = {key: a.get(key, 0) + b.get(key, 0) for key in a if key != "n_dropped_invalid"}
    reasons = set(a.get("n_dropped_invalid", {})) | set(b.get("n_dropped_invalid", {}))
    out["n_dropped_invalid"] = {r: a.get("n_dropped_invalid", {}).get(r, 0) + b.get("n_dropped_invalid", {}).get(r, 0)
                                for r in reasons}
    return out


def check_counts(path: Path, counts: dict) -> None:
    """Refuse a catalogue that left no galaxy (InputError saying why)."""
    if counts.get("n_rows", 0) == 0:
        raise InputError(f"{path}: the catalogue is empty (no rows)")
    if counts.get("n_galaxies", 0) == 0:
        invalid = "".join(f", {n} rows with {r}" for r, n in counts.get("n_dropped_invalid", {}).items() if n)
        raise InputError(f"{path}: no galaxy left after dropping {counts.get('n_dropped_nonfinite', 0)} non-finite "
                         f"rows{invalid} and applying the cuts")
