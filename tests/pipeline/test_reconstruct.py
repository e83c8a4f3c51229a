"""`reconstruct` with a survey preset: the survey's numbers become the defaults, given options win."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from miu2net.config import preset
from miu2net.io import default_wcs, write_shear_map
from miu2net.maps import ShearMap
from miu2net.methods import get_method
from miu2net.pipeline import reconstruct_file, survey_options
from miu2net.sims.simulate import simulate_sample


@pytest.fixture(scope="module")
def shear_file(tmp_path_factory):
    sample = simulate_sample(preset("csst-small"), 3)
    n = sample["g1"].shape[0]
    shear = ShearMap(g1=sample["g1"], g2=sample["g2"], mask=sample["mask"],
                     noise=np.where(sample["mask"] > 0, sample["noise"], np.inf), pixel_arcmin=0.82,
                     wcs=default_wcs((n, n), 0.82, (150.0, 2.0)))
    return write_shear_map(shear, tmp_path_factory.mktemp("survey") / "shear.fits")


def test_the_preset_sets_the_prior_of_the_wiener_filter(shear_file):
    single, _ = reconstruct_file(shear_file, method="wiener")
    euclid, _ = reconstruct_file(shear_file, method="wiener", survey="euclid")
    assert "z_source=1" in single.meta["options"]["signal"]
    assert "n(z)" in euclid.meta["options"]["signal"], "the euclid preset's n(z) must set the prior"
    assert euclid.meta["survey"] == "euclid"
    assert not np.allclose(single.kappa_e, euclid.kappa_e), "another prior must change the Wiener map"


def test_given_options_win_and_methods_get_only_what_they_take():
    survey = preset("lsst").survey
    wiener = get_method("wiener")
    assert "z_source" not in survey_options(survey, wiener, {"cl_kappa": np.ones_like})
    assert survey_options(survey, wiener, {"n_gal_arcmin2": 10.0})["n_gal_arcmin2"] == 10.0
    assert survey_options(survey, wiener, {})["n_gal_arcmin2"] == 27.0
    assert survey_options(survey, get_method("ks"), {}) == {}


def test_the_preset_sets_the_catalogue_pixel(tmp_path):
    kappa, shear = reconstruct_file("examples/merging_pair_catalogue.fits", method="ks", survey="csst")
    assert shear.pixel_arcmin == pytest.approx(0.41)
    path = tmp_path / "k.fits"
    from miu2net.io import write_kappa_map

    write_kappa_map(kappa, path)
    assert fits.getheader(path, "KAPPA_E")["SURVEY"] == "csst"


def test_the_cli_takes_a_preset(tmp_path):
    from typer.testing import CliRunner

    from miu2net.cli import app

    out = tmp_path / "k.fits"
    result = CliRunner().invoke(app, ["reconstruct", "examples/merging_pair_catalogue.fits", "-o", str(out),
                                      "--method", "ks", "--preset", "csst"])
    assert result.exit_code == 0, result.output
    header = fits.getheader(out, "KAPPA_E")
    assert header["SURVEY"] == "csst" and header["PIXSCALE"] == pytest.approx(0.41)
    bad = CliRunner().invoke(app, ["reconstruct", "examples/merging_pair_catalogue.fits", "-o", str(out),
                                   "--preset", "hsc"])
    assert bad.exit_code == 2 and "not a survey preset" in bad.output
