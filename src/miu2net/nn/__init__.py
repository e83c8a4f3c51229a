"""Neural mass mapping: networks (U²-Net, the DeepMass U-Net), losses, augmentation, training, checkpoints.

The networks know nothing of training: :mod:`.u2net` and :mod:`.unet` define them,
:mod:`.registry` names them, :mod:`.losses` and :mod:`.module` train them (on fixed data sets, :mod:`.data`,
or on maps simulated on the fly at random depths, :mod:`.streaming`), :mod:`.checkpoint` saves them as
safetensors + JSON and :mod:`.calibration` calibrates their error bars and data-consistency range.
"""

from miu2net.nn.base import INPUT_CHANNELS, RAW_FIELDS, MassMapNet, raw_from_sample, raw_from_shear
from miu2net.nn.registry import count_parameters, create_model, list_models, model_info

__all__ = [
    "INPUT_CHANNELS",
    "RAW_FIELDS",
    "MassMapNet",
    "count_parameters",
    "create_model",
    "list_models",
    "model_info",
    "raw_from_sample",
    "raw_from_shear",
]
