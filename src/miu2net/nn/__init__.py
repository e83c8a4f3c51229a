"""Neural mass mapping: networks (U²-Net, the DeepMass U-Net), losses, augmentation, training, checkpoints.

The networks know nothing of training (STYLE.md): :mod:`.u2net` and :mod:`.unet` define them,
:mod:`.registry` names them, :mod:`.losses` and :mod:`.module` train them, :mod:`.checkpoint` saves
them as safetensors + JSON.
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
