"""What every configuration model shares: frozen models refusing unknown keys, the range check, the reader."""

import pytest
from pydantic import ValidationError

from miu2net.config.base import FrozenModel, check_range, format_errors, read_config_file
from miu2net.errors import InputError


class _Example(FrozenModel):
    n: int = 1
    name: str = "x"


def test_frozen_models_refuse_unknown_keys_and_changes():
    with pytest.raises(ValidationError, match="nn\n.*Extra inputs are not permitted"):
        _Example(nn=2)
    example = _Example(n=3)
    with pytest.raises(ValidationError, match="frozen"):
        example.n = 4
    assert hash(example) == hash(_Example(n=3)) and example == _Example(n=3) != _Example(n=4)


def test_format_errors_gives_one_line_per_problem():
    with pytest.raises(ValidationError) as err:
        _Example(n="many", typo=1)
    lines = format_errors(err.value).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("  n: ") and "integer" in lines[0]
    assert lines[1] == "  typo: Extra inputs are not permitted"


def test_check_range_closed_and_open_ends():
    check_range("mask.masked_fraction", (0.0, 0.3), 0.0, 1.0)
    check_range("x", (0.5, 0.5), 0.0, 1.0, open_lo=True, open_hi=True)
    with pytest.raises(ValueError, match=r"mask.masked_fraction = \[0.3, 0.1\] must be \[min, max\] with min <= max inside \[0.0, 1.0\]"):
        check_range("mask.masked_fraction", (0.3, 0.1), 0.0, 1.0)
    with pytest.raises(ValueError, match=r"inside \(0.0, 1.0\)"):
        check_range("x", (0.0, 0.5), 0.0, 1.0, open_lo=True, open_hi=True)
    with pytest.raises(ValueError, match=r"inside \[0.0, 1.0\)"):
        check_range("x", (0.5, 1.0), 0.0, 1.0, open_hi=True)


def test_read_config_file_yaml_toml_and_fallback(tmp_path):
    (tmp_path / "a.yaml").write_text("survey:\n  n_gal_arcmin2: 30\n")
    (tmp_path / "a.toml").write_text("[survey]\nn_gal_arcmin2 = 30\n")
    (tmp_path / "a.json").write_text('{"survey": {"n_gal_arcmin2": 30}}')
    (tmp_path / "empty.yml").write_text("")
    expected = {"survey": {"n_gal_arcmin2": 30}}
    assert read_config_file(tmp_path / "a.yaml") == read_config_file(tmp_path / "a.toml") == expected
    assert read_config_file(tmp_path / "a.json", yaml_fallback=True) == expected
    assert read_config_file(tmp_path / "empty.yml") == {}
    with pytest.raises(InputError, match="unknown configuration format '.json'"):
        read_config_file(tmp_path / "a.json")


def test_read_config_file_refusals(tmp_path):
    with pytest.raises(InputError, match="no such configuration file"):
        read_config_file(tmp_path / "absent.yaml")
    (tmp_path / "bad.toml").write_text("[survey\n")
    with pytest.raises(InputError, match="cannot read the configuration"):
        read_config_file(tmp_path / "bad.toml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(InputError, match="expected a mapping of sections; got list"):
        read_config_file(tmp_path / "list.yaml")
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(InputError, match="cannot read the configuration"):
        read_config_file(tmp_path / "binary.yaml")
