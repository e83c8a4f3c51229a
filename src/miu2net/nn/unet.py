r"""The DeepMass baseline (Jeffrey et al. 2020, arXiv:1908.00543): a plain U-Net on a first-guess κ map.

DeepMass feeds a U-Net with a linear reconstruction (they used the Wiener filter) and trains it with the
mean-squared error, so the output approximates the posterior mean :math:`E[\kappa\,|\,\gamma]`. The
layout follows their network: per level one Conv 3×3 → BatchNorm → ReLU, 2× average pooling, widths
16, 32, 64, 64 and a 64-channel bottleneck, bilinear 2× up-sampling, concatenation with the encoder map
of the level, one convolution per decoder level, and a final 1×1 convolution. Differences: the output
is linear (DeepMass rescaled κ to [0, 1] behind a sigmoid; we standardise it instead), BatchNorm sits
after each decoder convolution, and the first guess is the zero-padded Kaiser-Squires map
(``inputs=("ks",)``, computed inside the model) since a Wiener filter needs a prior power spectrum;
give it other channels with ``inputs=`` (e.g. those of MIU2Net). Only one output (no deep supervision).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from miu2net.errors import InputError
from miu2net.nn.base import MassMapNet
from miu2net.nn.registry import register_model
from miu2net.nn.u2net import ConvBNReLU, up_to


class UNet(MassMapNet):
    """A U-Net with one convolution per level (module docstring).

    Args:
        widths: channels of the encoder levels, top first (each level but the first is pooled 2×).
        bottleneck: channels of the deepest level (one more 2× pooling below the last width).
        **kwargs: inputs, out_channels and normalisation (:class:`miu2net.nn.base.MassMapNet`).
    """

    def __init__(self, *, widths: Sequence[int] = (16, 32, 64, 64), bottleneck: int = 64, **kwargs) -> None:
        super().__init__(**kwargs)
        widths = tuple(int(w) for w in widths)
        if not widths or min(widths) < 1 or bottleneck < 1:
            raise InputError(f"widths and bottleneck must be positive; got {widths}, {bottleneck}")
        self.pool = nn.AvgPool2d(2, stride=2, ceil_mode=True)
        self.down = nn.ModuleList()
        in_ch = self.in_channels
        for w in widths:
            self.down.append(ConvBNReLU(in_ch, w))
            in_ch = w
        self.deep = ConvBNReLU(in_ch, bottleneck)
        self.up = nn.ModuleList()
        deeper = bottleneck
        for w in widths[::-1]:
            self.up.append(ConvBNReLU(deeper + w, w))
            deeper = w
        self.head = nn.Conv2d(widths[0], self.out_channels, 1)

    def _network(self, x: torch.Tensor) -> list[torch.Tensor]:
        skips = []
        h = x
        for i, conv in enumerate(self.down):
            if i > 0:
                h = self.pool(h)
            h = conv(h)
            skips.append(h)
        h = self.deep(self.pool(h))
        for conv in self.up:
            skip = skips.pop()
            h = conv(torch.cat([skip, up_to(h, skip)], dim=1))
        return [self.head(h)]


@register_model(family="deepmass")
def deepmass(**kwargs) -> UNet:
    """DeepMass-style U-Net baseline (Jeffrey et al. 2020) on the KS map (≈ 0.28 M parameters)."""
    kwargs.setdefault("inputs", ("ks",))
    return UNet(**kwargs)
