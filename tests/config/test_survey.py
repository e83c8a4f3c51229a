"""Survey and simulation configuration: presets, files (YAML/TOML/JSON), overrides and refused combinations."""

import json

import pytest
from pydantic import ValidationError

from miu2net.config import Config, SurveyConfig, config_from_dict, load_config, preset, save_config
from miu2net.config.survey import PRESETS
from miu2net.errors import InputError


def test_presets_values():
    csst = preset("csst")
    assert (csst.survey.n_gal_arcmin2, csst.survey.shape_noise_sigma, csst.survey.z_source) == (50, 0.4, 1.0)
    assert (csst.survey.map_size, csst.survey.pixel_arcmin) == (256, 0.41)
    small = preset("csst-small").survey
    assert (small.map_size, small.pixel_arcmin) == (128, 0.82)
    assert preset("euclid").survey.n_gal_arcmin2 == 30 and preset("lsst").survey.n_gal_arcmin2 == 27
    assert (csst.sim.n_train, csst.sim.n_val) == (5000, 1000)
    with pytest.raises(InputError, match="unknown preset"):
        preset("des")


@pytest.mark.parametrize("suffix", [".yaml", ".toml"])
def test_config_round_trip(tmp_path, suffix):
    for name in ("csst", "euclid"):
        config = preset(name).updated(sim={"field": "lognormal", "lognormal_shift": 0.05, "seed": 9,
                                           "halos": {"mass_min": 2e14, "pair_separation_mpc": [0.5, 1.0]}})
        path = save_config(config, tmp_path / f"{name}{suffix}")
        assert load_config(path) == config, f"{suffix} round trip changed the {name} configuration"


def test_partial_config_file_overrides_preset(tmp_path):
    (tmp_path / "c.yaml").write_text("preset: csst-small\nsurvey:\n  n_gal_arcmin2: 20\nsim:\n  halos: {enabled: false}\n")
    config = load_config(tmp_path / "c.yaml")
    assert config.survey.map_size == 128 and config.survey.n_gal_arcmin2 == 20 and not config.sim.halos.enabled
    (tmp_path / "n.toml").write_text("[survey.nz]\nz_median = 0.8\n")
    config = load_config(tmp_path / "n.toml")
    assert config.survey.z_source is None and config.survey.nz.z_median == 0.8


@pytest.mark.parametrize("sections, names", [
    ({"survey": {"mask": {"masked_fraction": [0.3, 0.1]}}}, "masked_fraction"),
    ({"survey": {"z_source": 1.0, "nz": {"z_median": 0.9}}}, "z_source"),
    ({"sim": {"halos": {"mass_definition": "200m", "concentration": "diemer15"}}}, "concentration"),
    ({"sim": {"halos": {"mass_min": 1e15, "mass_max": 1e14}}}, "mass_min"),
    ({"sim": {"field": "none", "halos": {"enabled": False}}}, "sim.field"),
    ({"sim": {"halos": {"z_max": 1.5}}}, "z_max"),
    ({"sim": {"field": "gaussian", "lognormal_shift": 0.02}}, "lognormal_shift"),
    ({"survey": {"noise_model": "poisson", "n_gal_arcmin2": 1.0}}, "noise_model"),
])
def test_impossible_combinations_raise_with_option_names(sections, names):
    with pytest.raises(ValidationError, match=names):
        preset("csst").updated(**sections)


def test_load_config_errors(tmp_path):
    with pytest.raises(InputError, match="no such configuration file"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("survey: [unclosed\n")
    with pytest.raises(InputError, match="cannot read"):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "typo.yaml").write_text("survey:\n  n_gal: 30\n")
    with pytest.raises(InputError, match="n_gal"):
        load_config(tmp_path / "typo.yaml")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(InputError, match="format"):
        load_config(tmp_path / "x.json")
    (tmp_path / "combo.toml").write_text("[sim.halos]\nmass_definition = 'vir'\nmass_function = 'watson13'\n")
    with pytest.raises(InputError, match="mass_function"):
        load_config(tmp_path / "combo.toml")


def test_every_preset_loads_and_is_consistent():
    for name in PRESETS:
        config = preset(name)
        survey = config.survey
        assert config.preset == name and survey.name == name
        assert (survey.z_source is None) != (survey.nz is None), "one source plane or one n(z)"
        assert survey.field_arcmin == pytest.approx(survey.map_size * survey.pixel_arcmin)
    # Euclid and LSST quote sigma per component; the configuration holds the total sigma_e = sqrt 2 x that
    assert preset("euclid").survey.shape_noise_sigma == pytest.approx(0.3 * 2**0.5, abs=1e-4)
    assert preset("lsst").survey.z_source_max == 4.0


def test_unknown_keys_are_refused_naming_the_key():
    with pytest.raises(InputError, match="n_gall"):
        config_from_dict({"survey": {"n_gall": 30}})
    with pytest.raises(InputError, match="simulation"):
        config_from_dict({"simulation": {}})
    with pytest.raises(ValidationError, match="typo"):
        SurveyConfig(typo=1)
    with pytest.raises(InputError, match="unknown preset 'des'"):
        config_from_dict({"preset": "des"})
    with pytest.raises(InputError, match="expected a mapping"):
        config_from_dict(["survey"])


def test_json_round_trip():
    config = preset("lsst").updated(survey={"n_gal_arcmin2": 12.5}, sim={"seed": 3})
    text = config.to_json()
    assert json.loads(text)["survey"]["n_gal_arcmin2"] == 12.5
    assert config_from_dict(json.loads(text)) == config
    assert Config.model_validate_json(text) == config


def test_configurations_are_frozen_values():
    config = preset("csst")
    with pytest.raises(ValidationError):
        config.survey.n_gal_arcmin2 = 10
    assert hash(config) == hash(preset("csst")) and config == preset("csst")
    assert config.updated(survey={"map_size": 64}).survey.map_size == 64 and config.survey.map_size == 256


def test_save_refuses_an_unknown_suffix(tmp_path):
    with pytest.raises(InputError, match="unknown configuration format '.json'"):
        save_config(preset("csst"), tmp_path / "c.json")
    assert not (tmp_path / "c.json").exists()
