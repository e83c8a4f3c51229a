"""Model files are untrusted input: the card is validated, field by field, before a tensor is allocated.

A model is ``NAME.safetensors`` + ``NAME.json`` (:mod:`miu2net.nn.checkpoint`); the JSON is the typed
:class:`miu2net.config.ModelCard`. Each corruption below must end in one InputError that names the
problem, never in an allocation error, a NaN map or a traceback from deep inside torch.
"""

from __future__ import annotations

import json
import resource

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from miu2net.config import ModelCard
from miu2net.errors import InputError
from miu2net.nn import create_model
from miu2net.nn.checkpoint import MODELS_DIR, load_model, save_model

PIXEL = 0.82


@pytest.fixture()
def model_files(tmp_path):
    torch.manual_seed(0)
    net = create_model("u2net_small", mid=4, width=8).eval()
    weights, meta = save_model(net, tmp_path / "tiny", pixel_arcmin=PIXEL, map_size=(32, 32),
                               noise_range=(0.04, 0.06))
    return weights, meta


def _edit(meta, **changes):
    config = json.loads(meta.read_text())
    for key, value in changes.items():
        if "." in key:
            outer, inner = key.split(".")
            config[outer][inner] = value
        else:
            config[key] = value
    meta.write_text(json.dumps(config))


def test_a_saved_model_loads_and_its_card_is_typed(model_files):
    weights, meta = model_files
    trained = load_model(weights)
    assert isinstance(trained.card, ModelCard)
    assert trained.card.map_size == (32, 32) and trained.card.pixel_arcmin == PIXEL


@pytest.mark.parametrize("changes, message", [
    ({"pixel_arcmin": "x"}, "pixel_arcmin"),
    ({"pixel_arcmin": -0.82}, "pixel_arcmin"),
    ({"pixel_arcmin": float("nan")}, "pixel_arcmin"),
    ({"out_channels": 1_000_000}, "out_channels"),
    ({"map_size": [1_000_000, 1_000_000]}, "map_size"),
    ({"inputs": ["g1", "g2", "spin"]}, "inputs"),
    ({"noise_range": [0.06, 0.04]}, "noise_range"),
    ({"normalisation.kappa_scale": 0.0}, "kappa_scale"),
    ({"arch_kwargs.width": 10_000_000}, "width"),
    ({"arch_kwargs.out_channels": 3}, "out_channels"),
    ({"format_version": 99}, "newer"),
    ({"format": "something-else"}, "not a miu2net model"),
    ({"arch": "../../etc"}, "arch"),
    ({"survey": {"pixel_arcmin": "wide"}}, "survey"),
    ({"unexpected_key": 1}, "unexpected_key"),
    ({"arch_kwargs.inputs": 5}, "inputs"),
    ({"arch_kwargs.inputs": None}, "inputs"),
    ({"arch_kwargs.width": "8"}, "do not build"),
    ({"calibration": {"method": "split-conformal"}}, "calibration"),
])
def test_a_corrupted_card_is_refused_with_the_field_named(model_files, changes, message):
    weights, meta = model_files
    _edit(meta, **changes)
    with pytest.raises(InputError, match=message):
        load_model(weights)


def test_a_deeply_nested_card_is_refused(model_files):
    weights, meta = model_files
    meta.write_text('{"format": "miu2net-model", "notes": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(InputError, match="JSON"):
        load_model(weights)


def test_a_streamed_model_at_a_shallow_depth_is_recorded_not_judged(tmp_path):
    """A stream draws every depth: its survey (Poisson noise, many empty pixels at 5/arcmin² on 0.2'
    pixels) would be refused as a fixed store, but a model trained on it must save and load."""
    from miu2net.config import preset

    survey = preset("csst").survey.model_dump(mode="json")
    survey.update(pixel_arcmin=0.2, n_gal_arcmin2=30.0, noise_model="poisson",
                  stream={"n_gal_arcmin2": [5.0, 100.0], "shape_noise_sigma": [0.26, 0.4],
                          "masked_fraction": [0.0, 0.35]})
    net = create_model("u2net_small", mid=4, width=8)
    weights, _ = save_model(net, tmp_path / "streamed", pixel_arcmin=0.2, map_size=(32, 32), survey=survey)
    assert load_model(weights).card.survey.stream.n_gal_arcmin2 == (5.0, 100.0)


def test_a_network_too_large_to_allocate_is_refused_before_allocation(model_files):
    """Every int option within the card's bounds, but the network they describe is enormous: counted on
    the meta device, refused without allocating (peak memory stays far below the 16 GB it would take)."""
    weights, meta = model_files
    _edit(meta, **{"arch_kwargs.width": 4096, "arch_kwargs.mid": 4096})
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(InputError, match="parameters"):
        load_model(weights)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 500, f"refusing the model allocated {grown_mb:.0f} MB"


def test_non_finite_weights_are_refused(model_files):
    weights, meta = model_files
    state = load_file(weights)
    name = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 1)
    state[name][0] = float("nan")
    save_file(state, weights, metadata={"format": "miu2net-model", "config": meta.read_text()})
    with pytest.raises(InputError, match="NaN or infinite"):
        load_model(weights)


def test_a_truncated_weights_file_is_refused(model_files):
    weights, _ = model_files
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="safetensors"):
        load_model(weights)


def test_a_card_that_loading_would_refuse_is_never_written(tmp_path):
    net = create_model("u2net_small", mid=4, width=8)
    with pytest.raises(InputError, match="pixel_arcmin"):
        save_model(net, tmp_path / "bad", pixel_arcmin=float("inf"), map_size=(32, 32))
    assert not list(tmp_path.iterdir()), "nothing may be left behind"


@pytest.mark.parametrize("name", ["miu2net-csst-quick", "deepmass-csst-quick"])
def test_the_shipped_cards_validate(name):
    card = ModelCard.from_json((MODELS_DIR / f"{name}.json").read_text(), source=name)
    assert card.survey is not None and card.survey.name == "csst-small"
    assert card.pixel_arcmin == 0.82 and card.map_size == (128, 128)
    assert np.isfinite(card.normalisation["kappa_scale"])


def test_weights_whose_shapes_differ_from_the_card_are_refused(model_files):
    """The header's config still matches the JSON, but a tensor has another shape: named, not a traceback."""
    weights, meta = model_files
    state = load_file(weights)
    name = next(k for k, v in state.items() if v.is_floating_point() and v.ndim == 4)
    state[name] = torch.cat([state[name], state[name]])
    save_file(state, weights, metadata={"format": "miu2net-model", "config": meta.read_text()})
    with pytest.raises(InputError, match=rf"tensor shape\(s\) do not match .*{name.replace('.', '[.]')} is \["):
        load_model(weights)


def test_a_model_save_cut_short_leaves_no_weights_without_their_card(tmp_path, monkeypatch):
    from miu2net.nn import checkpoint

    real = checkpoint.atomic_write

    def interrupted_at_the_json(path, write, **kwargs):
        if str(path).endswith(".json"):
            raise KeyboardInterrupt
        return real(path, write, **kwargs)

    monkeypatch.setattr(checkpoint, "atomic_write", interrupted_at_the_json)
    net = create_model("u2net_small", mid=4, width=8)
    with pytest.raises(KeyboardInterrupt):
        save_model(net, tmp_path / "m", pixel_arcmin=PIXEL, map_size=(32, 32))
    assert not list(tmp_path.iterdir())
