"""HEALPix files by healpy's conventions: written, read back by healpy, partial sky, provenance."""

import healpy as hp
import numpy as np
import pytest
from astropy.io import fits

from miu2net.errors import InputError
from miu2net.io.healpix import read_healpix_maps, write_healpix_maps

NSIDE = 32


def _maps(rng):
    npix = hp.nside2npix(NSIDE)
    theta, _ = hp.pix2ang(NSIDE, np.arange(npix))
    footprint = np.degrees(np.pi / 2 - theta) > 30  # dec > 30 deg
    kappa_e = np.where(footprint, 0.01 * rng.standard_normal(npix), hp.UNSEEN)
    kappa_b = np.where(footprint, 0.002 * rng.standard_normal(npix), hp.UNSEEN)
    return {"KAPPA_E": kappa_e, "KAPPA_B": kappa_b}, footprint


def test_partial_sky_round_trip_with_healpy_header(tmp_path, rng):
    maps, footprint = _maps(rng)
    path = write_healpix_maps(maps, tmp_path / "k.fits", meta={"method": "ks", "options": {"lmax": 64},
                                                               "n_galaxies": 1234, "input": "cat.parquet"})
    with fits.open(path) as hdul:
        header = hdul[1].header
        assert header["NSIDE"] == NSIDE and header["ORDERING"] == "RING" and header["COORDSYS"] == "C"
        assert header["INDXSCHM"] == "EXPLICIT" and hdul[1].data.shape[0] == footprint.sum(), "partial sky"
        assert header["METHOD"] == "ks" and header["NGALTOT"] == 1234
        assert header["FSKY"] == pytest.approx(footprint.mean())
        assert header["PIXAREA"] == pytest.approx(hp.nside2pixarea(NSIDE, degrees=True) * 3600)
    kappa = hp.read_map(path, field=0)  # healpy itself reads it: UNSEEN outside the footprint
    np.testing.assert_allclose(kappa[footprint], maps["KAPPA_E"][footprint], rtol=1e-6)
    assert np.all(kappa[~footprint] == hp.UNSEEN)
    back, _ = read_healpix_maps(path)
    assert list(back) == ["KAPPA_E", "KAPPA_B"]
    np.testing.assert_allclose(back["KAPPA_B"][footprint], maps["KAPPA_B"][footprint], rtol=1e-6)


def test_bad_maps_are_refused_and_nothing_written(tmp_path, rng):
    maps, footprint = _maps(rng)
    with pytest.raises(InputError, match="KAPPA_E"):
        write_healpix_maps({"KAPPA_B": maps["KAPPA_B"]}, tmp_path / "a.fits")
    with pytest.raises(InputError, match="12 NSIDE"):
        write_healpix_maps({"KAPPA_E": np.zeros(1000)}, tmp_path / "b.fits")
    bad = maps["KAPPA_E"].copy()
    bad[np.flatnonzero(footprint)[0]] = np.nan
    with pytest.raises(InputError, match="NaN"):
        write_healpix_maps({"KAPPA_E": bad}, tmp_path / "c.fits")
    assert not list(tmp_path.iterdir()), "nothing written"
    with pytest.raises(InputError, match="not a readable HEALPix"):
        (tmp_path / "junk.fits").write_bytes(b"nope")
        read_healpix_maps(tmp_path / "junk.fits")
