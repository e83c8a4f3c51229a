r"""DeepMass (Jeffrey et al. 2020, arXiv:1908.00543): a U-Net trained with the MSE on a first-guess map.

The network (:mod:`miu2net.nn.unet`, ``miu2net train --arch deepmass``) takes by default the
zero-padded Kaiser-Squires map of the masked shear and returns an approximation of the posterior mean
:math:`E[\kappa\,|\,\gamma]`. Loading, input checks, tiling and the B mode are those of every trained model
(:mod:`miu2net.nn.inference`).
"""

from __future__ import annotations

from typing import Any

from miu2net.maps import KappaMap, ShearMap
from miu2net.methods.base import TrainedMethod, checked, options
from miu2net.nn.inference import reconstruct_with_model


@checked
def reconstruct(
    shear: ShearMap,
    *,
    model: Any = None,
    device: str = "cpu",
    batch_size: int = 8,
    allow_mismatch: bool = False,
    network_overlap: int | None = None,
    b_mode: str = "ks",
    symmetrise: bool = False,
) -> KappaMap:
    """DeepMass convergence of a gridded shear map.

    Args:
        shear: gridded reduced shear with mask and noise map.
        model: path to ``NAME.safetensors``/``NAME.json`` (suffix optional), a name under ``miu2net/models/``
            (default: the shipped model of the input's pixel, :func:`miu2net.nn.inference.default_model_for`)
            or a loaded :class:`miu2net.nn.checkpoint.TrainedModel`.
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.
        batch_size: tiles per forward pass.
        allow_mismatch: run even if pixel scale, map size or noise level differ from the training data.
        network_overlap: overlap in pixels of the network's own tiles (its fixed input size; default a quarter
            of it); not the survey tiles of ``--tile``/``--tile-overlap``.
        b_mode: ``ks``, ``network`` or ``zero`` (see :mod:`miu2net.nn.inference`).
        symmetrise: average over the 8 symmetries of the square (see :mod:`miu2net.nn.inference`).
    """
    return reconstruct_with_model(shear, method="deepmass", model=model, device=device, batch_size=batch_size,
                                  allow_mismatch=allow_mismatch, network_overlap=network_overlap, b_mode=b_mode,
                                  symmetrise=symmetrise)


METHOD = TrainedMethod("deepmass", reconstruct, options(
    "model", "device", "batch_size", "allow_mismatch", "network_overlap", "b_mode", "symmetrise",
), family="deepmass")
