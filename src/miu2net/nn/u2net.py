r"""U²-Net (Qin et al. 2020, arXiv:2005.09007): a U-Net whose stages are themselves U-Nets, as used by
MIU2Net (arXiv:2601.13538) to map shear to convergence.

Residual U-block RSU-L (:class:`RSU`). An input convolution maps the block input to ``out`` channels,
:math:`x_{\rm in}`; an inner U-Net of depth L works on it at ``mid`` channels: L - 1 plain 3×3
convolutions with a 2× down-sampling before each but the first, a dilated (d = 2) 3×3 convolution at the
bottom, then L - 1 decoder convolutions, each on the up-sampled (bilinear) deeper map concatenated with
the encoder map of the same level, the last one back to ``out`` channels; the block returns
:math:`\mathcal U(x_{\rm in}) + x_{\rm in}` (the residual). RSU-4F (:class:`RSU4F`) replaces the
pooling and up-sampling by dilations 1, 2, 4, 8 (encoder) and 4, 2, 1 (decoder), for the coarse stages
where maps are already small. Every convolution is Conv 3×3 → BatchNorm → ReLU.

Outer U (:class:`U2Net`). Six encoder stages En1…En6 = RSU-7, RSU-6, RSU-5, RSU-4, RSU-4F, RSU-4F with
a 2× down-sampling between consecutive stages, and five decoder stages De5…De1 = RSU-4F, RSU-4, RSU-5,
RSU-6, RSU-7, each on the up-sampled deeper output concatenated with the encoder output of its level.
Six side outputs (a 3×3 convolution of En6, De5, De4, De3, De2, De1 to ``out_channels`` maps, up-sampled
bilinearly to the input size) are fused by a 1×1 convolution (initialised to their mean) into the final
map. :meth:`U2Net.forward_all` returns ``[fused, side1 (De1), …, side6 (En6)]`` for deep supervision.
Any input size works (pooling rounds up, up-sampling matches the skip's size); sizes divisible by 32
avoid the rounding.

Differences from the published salient-object network: linear outputs (no sigmoid; the target is the
standardised convergence), a configurable pooling (``pool="avg"`` by default as in the MIU2Net code,
``"max"`` as in U²-Net) and the input channels of :mod:`miu2net.nn.base`.

Variants: ``u2net_full`` has the published widths (≈ 44 M parameters) and ``u2net_small`` the
U²-Net† widths (every stage ``mid`` = 16, ``out`` = 64; ≈ 1.1 M parameters, trainable on a CPU).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from miu2net.errors import InputError
from miu2net.nn.base import MassMapNet
from miu2net.nn.registry import register_model


class ConvBNReLU(nn.Sequential):
    """3×3 convolution (dilation ``d``, 'same' padding) → BatchNorm → ReLU."""

    def __init__(self, in_ch: int, out_ch: int, dilation: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_ch, out_ch, 3, padding=dilation, dilation=dilation, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )


def _down(x: torch.Tensor, pool: str) -> torch.Tensor:
    if pool == "max":
        return F.max_pool2d(x, 2, stride=2, ceil_mode=True)
    return F.avg_pool2d(x, 2, stride=2, ceil_mode=True)


def up_to(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``x`` bilinearly resized to the spatial size of ``like`` (the decoder's upsampling)."""
    if x.shape[-2:] == like.shape[-2:]:
        return x
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


class RSU(nn.Module):
    """Residual U-block of depth ``height`` (RSU-7 … RSU-4); see the module docstring."""

    def __init__(self, height: int, in_ch: int, mid_ch: int, out_ch: int, *, pool: str = "avg") -> None:
        super().__init__()
        if height < 2:
            raise InputError(f"an RSU block needs height >= 2; got {height}")
        self.height, self.pool = height, pool
        self.conv_in = ConvBNReLU(in_ch, out_ch)
        self.encoder = nn.ModuleList(
            [ConvBNReLU(out_ch, mid_ch)] + [ConvBNReLU(mid_ch, mid_ch) for _ in range(height - 2)]
        )
        self.bottom = ConvBNReLU(mid_ch, mid_ch, dilation=2)
        self.decoder = nn.ModuleList(
            [ConvBNReLU(2 * mid_ch, mid_ch) for _ in range(height - 2)] + [ConvBNReLU(2 * mid_ch, out_ch)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_in = self.conv_in(x)
        skips = []
        h = x_in
        for i, conv in enumerate(self.encoder):
            if i > 0:
                h = _down(h, self.pool)
            h = conv(h)
            skips.append(h)
        h = self.bottom(h)
        for conv in self.decoder:
            skip = skips.pop()
            h = conv(torch.cat([up_to(h, skip), skip], dim=1))
        return h + x_in


class RSU4F(nn.Module):
    """Residual U-block with dilations instead of resampling (RSU-4F); see the module docstring."""

    def __init__(self, in_ch: int, mid_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv_in = ConvBNReLU(in_ch, out_ch)
        self.encoder = nn.ModuleList(
            [ConvBNReLU(out_ch, mid_ch, 1), ConvBNReLU(mid_ch, mid_ch, 2), ConvBNReLU(mid_ch, mid_ch, 4)]
        )
        self.bottom = ConvBNReLU(mid_ch, mid_ch, dilation=8)
        self.decoder = nn.ModuleList(
            [ConvBNReLU(2 * mid_ch, mid_ch, 4), ConvBNReLU(2 * mid_ch, mid_ch, 2), ConvBNReLU(2 * mid_ch, out_ch, 1)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_in = self.conv_in(x)
        skips = []
        h = x_in
        for conv in self.encoder:
            h = conv(h)
            skips.append(h)
        h = self.bottom(h)
        for conv in self.decoder:
            h = conv(torch.cat([h, skips.pop()], dim=1))
        return h + x_in


#: Depth of the RSU block of each encoder stage En1..En6 (0 = RSU-4F) and decoder stage De5..De1.
ENCODER_HEIGHTS = (7, 6, 5, 4, 0, 0)
DECODER_HEIGHTS = (0, 4, 5, 6, 7)


def _block(height: int, in_ch: int, mid_ch: int, out_ch: int, pool: str) -> nn.Module:
    return RSU4F(in_ch, mid_ch, out_ch) if height == 0 else RSU(height, in_ch, mid_ch, out_ch, pool=pool)


class U2Net(MassMapNet):
    """The nested U-structure network (module docstring).

    Args:
        encoder_mid, encoder_out: ``mid`` and ``out`` channels of En1..En6 (6 each).
        decoder_mid, decoder_out: ``mid`` and ``out`` channels of De5..De1 (5 each).
        pool: ``"avg"`` or ``"max"`` 2× down-sampling.
        **kwargs: inputs, out_channels and normalisation (:class:`miu2net.nn.base.MassMapNet`).
    """

    def __init__(
        self,
        *,
        encoder_mid: Sequence[int],
        encoder_out: Sequence[int],
        decoder_mid: Sequence[int],
        decoder_out: Sequence[int],
        pool: str = "avg",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if len(encoder_mid) != 6 or len(encoder_out) != 6 or len(decoder_mid) != 5 or len(decoder_out) != 5:
            raise InputError("U2Net needs 6 encoder and 5 decoder widths (encoder_mid/out, decoder_mid/out)")
        if pool not in ("avg", "max"):
            raise InputError(f"pool must be 'avg' or 'max'; got {pool!r}")
        self.pool = pool
        self.encoder_stages = nn.ModuleList()
        in_ch = self.in_channels
        for height, mid, out in zip(ENCODER_HEIGHTS, encoder_mid, encoder_out):
            self.encoder_stages.append(_block(height, in_ch, mid, out, pool))
            in_ch = out
        self.decoder_stages = nn.ModuleList()
        deeper = encoder_out[5]
        for k, (height, mid, out) in enumerate(zip(DECODER_HEIGHTS, decoder_mid, decoder_out)):
            skip = encoder_out[4 - k]
            self.decoder_stages.append(_block(height, deeper + skip, mid, out, pool))
            deeper = out
        # Side convolutions, in the order side1 (De1) .. side5 (De5), side6 (En6).
        side_in = list(decoder_out[::-1]) + [encoder_out[5]]
        self.side_convs = nn.ModuleList([nn.Conv2d(c, self.out_channels, 3, padding=1) for c in side_in])
        self.fuse = nn.Conv2d(6 * self.out_channels, self.out_channels, 1, groups=1)
        with torch.no_grad():
            # Start as the mean of the six side outputs, channel by channel.
            weight = torch.zeros_like(self.fuse.weight)
            for c in range(self.out_channels):
                weight[c, c::self.out_channels] = 1.0 / 6.0
            self.fuse.weight.copy_(weight)
            self.fuse.bias.zero_()

    def _network(self, x: torch.Tensor) -> list[torch.Tensor]:
        encoded = []
        h = x
        for i, stage in enumerate(self.encoder_stages):
            if i > 0:
                h = _down(h, self.pool)
            h = stage(h)
            encoded.append(h)
        decoded = []
        for k, stage in enumerate(self.decoder_stages):
            skip = encoded[4 - k]
            h = stage(torch.cat([up_to(h, skip), skip], dim=1))
            decoded.append(h)
        features = decoded[::-1] + [encoded[5]]  # De1, De2, De3, De4, De5, En6
        sides = [up_to(conv(f), x) for conv, f in zip(self.side_convs, features)]
        fused = self.fuse(torch.cat(sides, dim=1))
        return [fused] + sides


@register_model
def u2net_full(**kwargs) -> U2Net:
    """U²-Net with the published widths (Qin et al. 2020; ≈ 44 M parameters), as in MIU2Net."""
    widths = dict(
        encoder_mid=(32, 32, 64, 128, 256, 256),
        encoder_out=(64, 128, 256, 512, 512, 512),
        decoder_mid=(256, 128, 64, 32, 16),
        decoder_out=(512, 256, 128, 64, 64),
    )
    widths.update(kwargs)
    return U2Net(**widths)


@register_model
def u2net_small(*, mid: int = 16, width: int = 64, **kwargs) -> U2Net:
    """U²-Net† widths (every stage mid = 16, out = 64; ≈ 1.1 M parameters): CPU-trainable."""
    return U2Net(encoder_mid=(mid,) * 6, encoder_out=(width,) * 6, decoder_mid=(mid,) * 5,
                 decoder_out=(width,) * 5, **kwargs)
