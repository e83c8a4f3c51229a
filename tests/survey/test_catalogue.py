"""Reading shear catalogues: column mapping, bias correction, cuts, units, and the rows dropped on reading."""

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from catalogue_helpers import nfw_catalogue, uniform_catalogue, uniform_columns, write_catalogue

from miu2net.errors import InputError
from miu2net.survey import read_catalogue
from miu2net.survey.catalogue import parse_cut

_catalogue, _columns = uniform_catalogue, uniform_columns


def _cat(cols, **kw):
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        return read_catalogue(write_catalogue(cols, Path(d) / "c.fits"), **kw)


def test_nan_rows_dropped_and_counted(tmp_path, rng):
    pytest.importorskip("galsim")
    cols, _ = nfw_catalogue(rng, signal=False, side_arcmin=10.0, n_per_arcmin2=5)
    cols["e1"][:7] = np.nan
    cat = _cat(cols)
    assert cat.meta["n_dropped_nonfinite"] == 7 and len(cat) == len(cols["ra"]) - 7


def test_column_mapping_bias_and_cuts(tmp_path):
    cols = {"RA_deg": np.array([10.0, 10.01, 10.02]), "DEC_deg": np.array([0.0, 0.0, 0.01]),
            "g_1": np.array([0.11, 0.2, 0.3]), "g_2": np.array([0.01, 0.0, -0.1]),
            "m": np.array([0.1, 0.0, 0.0]), "c1": np.array([0.0, 0.01, 0.0]), "snr": np.array([5.0, 20.0, 30.0])}
    path = write_catalogue(cols, tmp_path / "c.csv")
    cat = read_catalogue(path, columns={"ra": "RA_deg", "dec": "DEC_deg", "e1": "g_1", "e2": "g_2"},
                         cuts=["snr > 10"], flip_e1=True)
    np.testing.assert_allclose(cat.e1, [-(0.2 - 0.01), -0.3])
    cat = read_catalogue(path, columns={"ra": "RA_deg", "dec": "DEC_deg", "e1": "g_1", "e2": "g_2"})
    np.testing.assert_allclose(cat.e1[0], 0.11 / 1.1)
    with pytest.raises(InputError, match="cannot read the cut"):
        read_catalogue(path, columns={"ra": "RA_deg", "dec": "DEC_deg", "e1": "g_1", "e2": "g_2"},
                       cuts=["__import__('os')"])


@pytest.mark.parametrize(("unit", "per_degree"), [("deg", 1.0), ("rad", np.pi / 180), ("arcmin", 60.0),
                                                  ("degrees", 1.0)])
def test_position_units_are_converted_to_degrees(tmp_path, unit, per_degree):
    from miu2net.survey import read_catalogue

    cols = _columns(200)
    plain = read_catalogue(_catalogue(tmp_path / "deg.fits", n=200))
    path = tmp_path / "c.fits"
    fits.BinTableHDU.from_columns([fits.Column(name=k, format="D", unit=unit if k in ("ra", "dec") else None,
                                               array=v * per_degree if k in ("ra", "dec") else v)
                                   for k, v in cols.items()]).writeto(path)
    cat = read_catalogue(path)
    np.testing.assert_allclose(cat.ra, plain.ra, rtol=1e-12)
    np.testing.assert_allclose(cat.dec, plain.dec, rtol=1e-12)


def test_cuts_are_parsed_as_column_operator_number():
    assert parse_cut("mag < 24.5") == ("mag", "<", 24.5)
    assert parse_cut(" snr>=10 ") == ("snr", ">=", 10.0)
    assert parse_cut("flag != 0") == ("flag", "!=", 0.0)
    assert parse_cut("z == -1e-3") == ("z", "==", -1e-3)
    for bad in ("mag < bright", "< 3", "mag << 3", "mag < 1; rm"):
        with pytest.raises(InputError, match="cannot read the cut"):
            parse_cut(bad)


def test_shear_calibration_and_defaults(tmp_path):
    """e = (e_obs - c) / (1 + m); weight 1, m = c = 0 when the columns are absent."""
    cols = {"ra": np.array([10.0, 10.01]), "dec": np.array([0.0, 0.01]), "e1": np.array([0.22, 0.1]),
            "e2": np.array([-0.1, 0.05]), "m": np.array([0.1, -0.5]), "c1": np.array([0.0, 0.02]),
            "c2": np.array([0.01, 0.0])}
    cat = read_catalogue(write_catalogue(cols, tmp_path / "c.fits"))
    np.testing.assert_allclose(cat.e1, [0.22 / 1.1, (0.1 - 0.02) / 0.5])
    np.testing.assert_allclose(cat.e2, [(-0.1 - 0.01) / 1.1, 0.05 / 0.5])
    np.testing.assert_array_equal(cat.weight, [1.0, 1.0])
    plain = read_catalogue(write_catalogue({k: cols[k] for k in ("ra", "dec", "e1", "e2")}, tmp_path / "p.csv"))
    np.testing.assert_allclose(plain.e1, cols["e1"])
    assert len(plain) == 2 and plain.ra.dtype == np.float64


def test_flips_negate_one_component(tmp_path):
    cols = {"ra": np.array([10.0, 10.01]), "dec": np.array([0.0, 0.01]), "e1": np.array([0.2, -0.1]),
            "e2": np.array([0.05, 0.3])}
    path = write_catalogue(cols, tmp_path / "c.fits")
    flipped = read_catalogue(path, flip_e2=True)
    np.testing.assert_allclose(flipped.e1, cols["e1"])
    np.testing.assert_allclose(flipped.e2, -cols["e2"])
    np.testing.assert_allclose(read_catalogue(path, flip_e1=True).e1, -cols["e1"])


def test_impossible_rows_are_dropped_and_counted_by_reason(tmp_path):
    path = _catalogue(tmp_path / "c.fits", n=50, first={"e1": [0.8, 0.1], "e2": [0.8, 0.0], "weight": [1, -2]})
    cat = read_catalogue(path)
    assert len(cat) == 48
    assert cat.meta["n_dropped_invalid"] == {"|e| >= 1": 1, "weight < 0": 1}


def test_positions_in_a_unit_that_is_not_an_angle_are_refused(tmp_path):
    path = tmp_path / "c.fits"
    cols = _columns(20)
    fits.BinTableHDU.from_columns([fits.Column(name=k, format="D", unit="Mpc" if k == "ra" else None, array=v)
                                   for k, v in cols.items()]).writeto(path)
    with pytest.raises(InputError, match="not an angle"):
        read_catalogue(path)


def test_a_column_mapped_to_a_missing_name_is_named(tmp_path):
    path = _catalogue(tmp_path / "c.fits", n=20)
    with pytest.raises(InputError, match="RA_J2000"):
        read_catalogue(path, columns={"ra": "RA_J2000"})
