"""Training configuration: defaults, ranges, refused combinations, unknown keys and file round trips."""

import json

import pydantic
import pytest
import yaml

from miu2net.config import LossConfig, StreamConfig, TrainConfig


def test_config_validation(tmp_path):
    with pytest.raises(pydantic.ValidationError):
        StreamConfig(views_per_truth=0)
    assert StreamConfig(views_per_truth=4).views_per_truth == 4
    assert StreamConfig().views_per_truth == 1
    with pytest.raises(pydantic.ValidationError):
        TrainConfig(out=tmp_path, max_time_minutes=0)
    with pytest.raises(pydantic.ValidationError):
        TrainConfig(out=tmp_path, max_time_minutes=-1)
    assert TrainConfig(out=tmp_path, max_time_minutes=1.5).max_time_minutes == 1.5
    assert TrainConfig(out=tmp_path).max_time_minutes is None


def test_train_config_ties_two_estimates_to_three_channels(tmp_path):
    loss = {"spread": "gaussian_nll", "two_estimates": True}
    TrainConfig(out=tmp_path, out_channels=3, loss=loss)
    with pytest.raises(ValueError, match="two_estimates"):
        TrainConfig(out=tmp_path, out_channels=2, loss=loss)
    with pytest.raises(ValueError, match="two_estimates"):
        TrainConfig(out=tmp_path, out_channels=3, loss={"spread": "gaussian_nll"})
    assert TrainConfig(out=tmp_path, out_channels=3, loss=loss).loss.loss_kwargs()["power_channel"] == 2


def test_defaults_and_architecture_names(tmp_path):
    cfg = TrainConfig(out=tmp_path)
    assert (cfg.arch, cfg.epochs, cfg.batch_size, cfg.lr, cfg.out_channels) == ("u2net_small", 50, 16, 1e-3, 1)
    assert cfg.loss == LossConfig() and cfg.stream is None
    assert TrainConfig(out=tmp_path, arch="U2Net-Full").arch == "u2net_full"
    assert TrainConfig(out=tmp_path, devices="2").devices == 2
    with pytest.raises(pydantic.ValidationError, match="arch must name an architecture"):
        TrainConfig(out=tmp_path, arch="  ")


def test_unknown_keys_and_bad_values_are_refused_naming_them(tmp_path):
    with pytest.raises(pydantic.ValidationError, match="epoch\n.*Extra inputs are not permitted"):
        TrainConfig(out=tmp_path, epoch=3)
    with pytest.raises(pydantic.ValidationError, match="loss.freq_wieght"):
        TrainConfig(out=tmp_path, loss={"freq_wieght": 0.1})
    with pytest.raises(pydantic.ValidationError, match="inputs must be distinct channel names"):
        TrainConfig(out=tmp_path, inputs=("g1", "g1"))
    with pytest.raises(pydantic.ValidationError, match="normalisation takes positive values"):
        TrainConfig(out=tmp_path, normalisation={"shear_scale": -1.0})
    with pytest.raises(pydantic.ValidationError, match="num_nodes > 1 needs a distributed strategy"):
        TrainConfig(out=tmp_path, num_nodes=2)
    with pytest.raises(pydantic.ValidationError, match="nothing to optimise"):
        LossConfig(spatial_weight=0, freq_weight=0)
    with pytest.raises(pydantic.ValidationError, match="leaves the spread channel untrained"):
        TrainConfig(out=tmp_path, out_channels=2)


def test_loss_keywords_weigh_the_side_outputs():
    kwargs = LossConfig(side_weight=0.5, spatial="huber").loss_kwargs(n_outputs=7)
    assert kwargs["output_weights"] == [1.0] + [0.5] * 6 and kwargs["spatial"] == "huber"
    assert kwargs["power_channel"] is None
    assert LossConfig().loss_kwargs(n_outputs=1)["output_weights"] == [1.0]


def test_round_trips_through_json_and_yaml(tmp_path):
    cfg = TrainConfig(out=tmp_path / "run", arch="deepmass", epochs=3, inputs=("ks",),
                      loss={"spread": "gaussian_nll"}, out_channels=2, stream=StreamConfig(views_per_truth=2),
                      data=tmp_path / "store.zarr")
    assert TrainConfig.model_validate_json(cfg.model_dump_json()) == cfg
    text = yaml.safe_dump(json.loads(cfg.model_dump_json()))
    assert TrainConfig(**yaml.safe_load(text)) == cfg
