"""Catalogues read in chunks give exactly the galaxies read_catalogue gives, whatever the format."""

import numpy as np
import pytest
from astropy.table import Table

from miu2net.errors import InputError
from miu2net.survey.catalogue import read_catalogue
from miu2net.survey.chunks import ChunkReader, check_counts, merge_counts


@pytest.fixture
def table(rng):
    n = 5003
    t = Table({"RA": rng.uniform(-5, 5, n), "dec": rng.uniform(-3, 3, n), "e1": 0.3 * rng.standard_normal(n),
               "e2": 0.3 * rng.standard_normal(n), "w": rng.uniform(0.5, 2, n), "m": np.full(n, 0.02),
               "snr": rng.uniform(0, 40, n)})
    t["e1"][[3, 17]] = np.nan  # missing values, dropped and counted
    t["e2"][40] = 1.5  # |e| >= 1, dropped as impossible
    return t


@pytest.mark.parametrize("suffix", [".fits", ".parquet", ".csv"])
def test_chunks_join_to_the_whole_catalogue(tmp_path, table, suffix):
    path = tmp_path / f"cat{suffix}"
    if suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({c: np.asarray(table[c]) for c in table.colnames}), path, row_group_size=1000)
    else:
        table.write(path, format="fits" if suffix == ".fits" else "ascii.csv")
    options = {"columns": {"weight": "w"}, "flip_e2": True, "cuts": ["snr > 5"]}
    whole = read_catalogue(path, **options)
    reader = ChunkReader(path, **options)
    pieces, counts = [], {}
    if suffix == ".csv":
        chunks = list(reader)
    else:
        chunks = [reader.read(a, b) for a, b in reader.ranges(rows=700)]
        assert len(chunks) == 8
    for catalogue, c in chunks:
        pieces.append(catalogue)
        counts = merge_counts(counts, c) if counts else c
    for name in ("ra", "dec", "e1", "e2", "weight"):
        np.testing.assert_allclose(np.concatenate([getattr(p, name) for p in pieces]), getattr(whole, name),
                                   rtol=1e-12, err_msg=name)
    assert counts["n_galaxies"] == len(whole) and counts["n_rows"] == 5003
    assert counts["n_dropped_nonfinite"] == whole.meta["n_dropped_nonfinite"] == 2
    assert counts["n_dropped_invalid"]["|e| >= 1"] == whole.meta["n_dropped_invalid"]["|e| >= 1"] >= 1
    assert counts["n_ra_wrapped"] == whole.meta["n_ra_wrapped"]
    check_counts(path, counts)


def test_missing_column_and_empty_result_are_refused(tmp_path, table):
    path = tmp_path / "cat.fits"
    table.write(path)
    with pytest.raises(InputError, match="no column 'weight_x' for weight"):
        ChunkReader(path, columns={"weight": "weight_x"})
    reader = ChunkReader(path, cuts=["snr > 1000"])
    _, counts = reader.read(0, 5003)
    with pytest.raises(InputError, match="no galaxy left"):
        check_counts(path, counts)
