"""The model card: every field typed and range-checked before a tensor is allocated; InputError naming it."""

import json
from pathlib import Path

import pytest

from miu2net.config.model_card import FORMAT_VERSION, INPUT_CHANNELS, ModelCard, check_input_channels
from miu2net.errors import InputError

SHIPPED = Path(__file__).resolve().parents[2] / "src" / "miu2net" / "models"


def _card(**changes):
    card = {"format": "miu2net-model", "format_version": 1, "arch": "u2net_small", "arch_kwargs": {"mid": 4, "width": 8},
            "inputs": ["g1", "g2", "mask", "noise"], "out_channels": 1,
            "normalisation": {"shear_scale": 0.1, "noise_ref": 0.05, "noise_clip": 4.0, "kappa_scale": 0.02},
            "map_size": [32, 32], "pixel_arcmin": 0.82, "noise_range": [0.04, 0.06]}
    card.update(changes)
    return card


def test_a_valid_card_reads_typed():
    card = ModelCard.from_json(json.dumps(_card()))
    assert card.inputs == ("g1", "g2", "mask", "noise") and card.map_size == (32, 32)
    assert card.pixel_arcmin == 0.82 and card.noise_range == (0.04, 0.06) and card.metrics == {}
    assert ModelCard.from_dict(card.model_dump(mode="json")) == card, "a card round trips through JSON"


@pytest.mark.parametrize("name", ["miu2net-csst-quick", "deepmass-csst-quick"])
def test_the_shipped_cards_read(name):
    path = SHIPPED / f"{name}.json"
    if not path.exists():
        pytest.skip(f"{name} is not shipped in this checkout")
    card = ModelCard.from_json(path.read_text(), source=str(path))
    assert set(card.inputs) <= set(INPUT_CHANNELS) and card.pixel_arcmin > 0


@pytest.mark.parametrize("changes, words", [
    ({"pixel_arcmin": "x"}, "pixel_arcmin"),
    ({"pixel_arcmin": 0}, "pixel_arcmin"),
    ({"out_channels": 1_000_000}, "out_channels"),
    ({"map_size": [10**6, 32]}, "map_size sides must lie in [8, 8192]"),
    ({"inputs": ["g1", "velocity"]}, "inputs must be distinct channel names"),
    ({"normalisation": {"shear_scale": 0.1}}, "normalisation needs exactly"),
    ({"normalisation": {"shear_scale": -0.1, "noise_ref": 0.05, "noise_clip": 4.0, "kappa_scale": 0.02}},
     "normalisation.shear_scale must be a finite positive number"),
    ({"noise_range": [0.06, 0.04]}, "noise_range must be [min, max] with min <= max"),
    ({"format_version": FORMAT_VERSION + 1}, "newer than this miu2net understands"),
    ({"arch": "U2Net Small"}, "arch"),
    ({"arch_kwargs": {"mid": 10**6}}, "arch_kwargs.mid = 1000000 lies outside [0, 4096]"),
    ({"arch_kwargs": {"out_channels": 2}}, "arch_kwargs.out_channels 2 differs from out_channels 1"),
    ({"surprise": 1}, "surprise"),
])
def test_a_bad_field_is_refused_and_named(changes, words):
    with pytest.raises(InputError) as err:
        ModelCard.from_dict(_card(**changes), source="m.json")
    message = str(err.value)
    assert message.startswith("m.json: invalid model card: ") and words in message, message


def test_not_a_card_at_all():
    with pytest.raises(InputError, match="m.json: not a readable JSON model config"):
        ModelCard.from_json("{not json", source="m.json")
    with pytest.raises(InputError, match=r"not a miu2net model config \(format 'other'\)"):
        ModelCard.from_dict(_card(format="other"))
    with pytest.raises(InputError, match="a model card is a JSON object; got list"):
        ModelCard.from_json("[1, 2]")
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(InputError, match="not a readable JSON model config"):
        ModelCard.from_json(deep)


def test_check_input_channels():
    assert check_input_channels("ks") == ("ks",)
    assert check_input_channels(["g1", "g2", "wiener"]) == ("g1", "g2", "wiener")
    for bad in ([], ["g1", "g1"], ["kappa"]):
        with pytest.raises(ValueError, match="inputs must be distinct channel names"):
            check_input_channels(bad)
