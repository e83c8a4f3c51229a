"""Configuration: one package of pydantic models for the survey, the simulations, training and models.

- :mod:`.base`: the frozen base model, the one range check and the one YAML/TOML reader.
- :mod:`.survey`: :class:`SurveyConfig`, :class:`SimConfig`, the presets and :class:`Config` files.
- :mod:`.train`: :class:`TrainConfig` (with :class:`LossConfig` and :class:`StreamConfig`).
- :mod:`.model_card`: :class:`ModelCard`, the typed JSON beside a trained network's weights.

Configuration is the bottom of the data flow (config → sims → nn → methods → …): it imports nothing
of the package but :mod:`miu2net.errors`.
"""

from miu2net.config.base import FrozenModel, check_range, format_errors, read_config_file
from miu2net.config.model_card import INPUT_CHANNELS, ModelCard, TrainedSurvey, check_input_channels
from miu2net.config.survey import (
    CONCENTRATIONS,
    DEFAULT_PRESET,
    MASS_FUNCTIONS,
    PRESETS,
    Config,
    HaloConfig,
    MaskConfig,
    NBodyConfig,
    SimConfig,
    SmailNz,
    SurveyConfig,
    config_from_dict,
    load_config,
    preset,
    save_config,
)
from miu2net.config.train import LossConfig, StreamConfig, TrainConfig

__all__ = [
    "CONCENTRATIONS", "DEFAULT_PRESET", "INPUT_CHANNELS", "MASS_FUNCTIONS", "PRESETS", "Config", "FrozenModel",
    "HaloConfig", "LossConfig", "MaskConfig", "ModelCard", "NBodyConfig", "SimConfig", "SmailNz", "StreamConfig", "SurveyConfig",
    "TrainConfig", "TrainedSurvey", "check_input_channels", "check_range", "config_from_dict", "format_errors",
    "load_config", "preset", "read_config_file", "save_config",
]
