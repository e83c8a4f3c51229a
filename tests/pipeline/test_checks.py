"""The reconstruct request checked before any work: every refusal names its flag, a good request passes."""

import numpy as np
import pytest
from catalogue_helpers import uniform_catalogue

from miu2net.errors import InputError
from miu2net.pipeline.checks import MIN_MAP_SIZE, check_method_options, check_size_options, validate_reconstruct_request
from miu2net.pipeline.load import CatalogueOptions


@pytest.fixture
def gridded(tmp_path):
    path = tmp_path / "shear.npz"
    np.savez(path, G1=np.zeros((16, 16)), G2=np.zeros((16, 16)), PIXSCALE=0.5)
    return path


@pytest.fixture
def catalogue(tmp_path):
    return uniform_catalogue(tmp_path / "cat.fits", n=200)


def test_a_good_request_passes(gridded, catalogue, tmp_path):
    validate_reconstruct_request(gridded, output=tmp_path / "k.fits", png=tmp_path / "k.png", method="ks",
                                 options={"smooth_arcmin": 1.0}, noise_realisations=20, tile=64, tile_overlap=16)
    validate_reconstruct_request(catalogue, output=tmp_path / "k.fits",
                                 catalogue=CatalogueOptions(pixel_arcmin=1.0, size=64, center=(150.0, 2.0)))


@pytest.mark.parametrize("kwargs, message", [
    ({"tile": 32, "tile_overlap": 32}, "--tile-overlap must lie in [0, 31]"),
    ({"tile_overlap": -1}, "--tile-overlap must lie in [0, inf]"),
    ({"tile": 4}, f"--tile must lie in [{MIN_MAP_SIZE}, inf]"),
    ({"noise_realisations": 1}, "--noise-realisations 1 cannot estimate a standard deviation"),
    ({"noise_realisations": -3}, "--noise-realisations must lie in [0, 10000]"),
    ({"seed": -1}, "--seed must be a whole number"),
    ({"method": "nope"}, "unknown method 'nope'"),
    ({"method": "ks", "options": {"bogus": 1}}, "bogus"),
])
def test_bad_numbers_and_methods_are_refused_with_their_flag(gridded, tmp_path, kwargs, message):
    with pytest.raises(InputError) as err:
        validate_reconstruct_request(gridded, output=tmp_path / "k.fits", **kwargs)
    assert message in str(err.value)
    assert not (tmp_path / "k.fits").exists()


def test_outputs_are_checked(gridded, tmp_path):
    with pytest.raises(InputError, match=r"^--png .*k\.jpg: expected a \.png file name"):
        validate_reconstruct_request(gridded, output=tmp_path / "k.fits", png=tmp_path / "k.jpg")
    with pytest.raises(InputError, match="^-o .* is the input"):
        validate_reconstruct_request(gridded, output=gridded)
    with pytest.raises(InputError, match="^--png .*is also -o"):
        validate_reconstruct_request(gridded, output=tmp_path / "k.png", png=tmp_path / "k.png")
    with pytest.raises(InputError, match="^input .*: no such file"):
        validate_reconstruct_request(tmp_path / "absent.fits", output=tmp_path / "k.fits")


def test_catalogue_options_are_checked(catalogue, gridded, tmp_path):
    out = tmp_path / "k.fits"
    for opts, message in ((CatalogueOptions(pixel_arcmin=0.0), "--pixel-arcmin must lie in (0, 600]"),
                          (CatalogueOptions(size=4), "--size must lie in [8, inf]"),
                          (CatalogueOptions(size=10**7), "--size 10000000 asks for a 10000000x10000000 map"),
                          (CatalogueOptions(center=(150.0, 95.0)), "--center Dec must lie in [-90, 90]"),
                          (CatalogueOptions(shape_noise_sigma=1.0), "--shape-noise-sigma must lie in (0, 1)")):
        with pytest.raises(InputError) as err:
            validate_reconstruct_request(catalogue, output=out, catalogue=opts)
        assert message in str(err.value)
    with pytest.raises(InputError, match=r"gridded shear, not a catalogue: the catalogue option\(s\) --cut, --size do not apply"):
        validate_reconstruct_request(gridded, output=out, catalogue=CatalogueOptions(size=32, cuts=["snr > 5"]))
    validate_reconstruct_request(gridded, output=out, catalogue=CatalogueOptions())  # defaults apply to nothing


def test_size_options_of_methods():
    check_size_options({"smooth_arcmin": 5.0}, side=64, pixel_arcmin=0.5)
    with pytest.raises(InputError, match=r"smooth_arcmin 40 arcmin is wider than the whole map \(64 pixels"):
        check_size_options({"smooth_arcmin": 40.0}, side=64, pixel_arcmin=0.5)
    check_size_options({"smooth_arcmin": 40.0}, side=64)  # the pixel unknown yet: checked later
    with pytest.raises(InputError, match="pad_pixels"):
        check_size_options({"pad_pixels": 10**7}, side=64)
    check_method_options("wiener", {})
    with pytest.raises(InputError, match="smooth"):
        check_method_options("ks", {"smooth_arcmin": -1.0})
