"""The reconstruct journey's input: gridded shear (npz, FITS with G1) versus a catalogue, and loading both."""

import numpy as np
import pytest
from astropy.io import fits
from catalogue_helpers import uniform_catalogue

from miu2net.errors import InputError
from miu2net.maps import ShearMap
from miu2net.pipeline.load import DEFAULT_CATALOGUE_PIXEL_ARCMIN, CatalogueOptions, is_gridded, load_shear


def _gridded_fits(path, size=16):
    hdus = [fits.PrimaryHDU(), fits.ImageHDU(np.zeros((size, size)), name="G1"),
            fits.ImageHDU(np.zeros((size, size)), name="G2")]
    hdus[0].header["PIXSCALE"] = 0.5
    fits.HDUList(hdus).writeto(path)
    return path


def test_gridded_or_catalogue_by_content(tmp_path):
    np.savez(tmp_path / "s.npz", G1=np.zeros((8, 8)), G2=np.zeros((8, 8)), PIXSCALE=0.5)
    assert is_gridded(tmp_path / "s.npz")
    assert is_gridded(_gridded_fits(tmp_path / "s.fits"))
    assert not is_gridded(uniform_catalogue(tmp_path / "cat.fits", n=50)), "a FITS table without G1 is a catalogue"
    assert not is_gridded(uniform_catalogue(tmp_path / "cat.csv", n=50))
    assert not is_gridded(tmp_path / "cat.parquet")


def test_a_damaged_fits_file_is_one_input_error(tmp_path):
    (tmp_path / "junk.fits").write_bytes(b"SIMPLE  = not really a FITS header")
    with pytest.raises(InputError, match="not a readable FITS file"):
        is_gridded(tmp_path / "junk.fits")


def test_load_shear_of_gridded_and_catalogue_input(tmp_path):
    shear, binning = load_shear(_gridded_fits(tmp_path / "s.fits"))
    assert isinstance(shear, ShearMap) and binning is None and shear.shape == (16, 16) and shear.pixel_arcmin == 0.5
    cat = uniform_catalogue(tmp_path / "cat.fits", n=3000, side_deg=0.2)
    shear, binning = load_shear(cat, CatalogueOptions(pixel_arcmin=1.0, size=16))
    assert shear.shape == (16, 16) and shear.pixel_arcmin == 1.0 and binning is not None
    default, _ = load_shear(cat)
    assert default.pixel_arcmin == DEFAULT_CATALOGUE_PIXEL_ARCMIN == 0.41, "catalogues grid at the csst pixel"
    with pytest.raises(InputError, match="no such file"):
        load_shear(tmp_path / "absent.fits")


def test_catalogue_options_default_to_nothing_given():
    opts = CatalogueOptions()
    assert opts.columns == {} and opts.cuts == [] and not opts.flip_e1 and not opts.flip_e2
    assert opts.pixel_arcmin is None and opts.size is None and opts.center is None
    assert CatalogueOptions().cuts is not CatalogueOptions().cuts, "no shared mutable default"
