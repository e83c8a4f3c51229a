r"""What every mass-mapping network shares: the raw input layout, the input channels and their scaling.

Raw input. A network takes one tensor ``raw`` of shape ``[B, 4, ny, nx]`` holding, in this order
(:data:`RAW_FIELDS`), the observed reduced shear ``g1``, ``g2`` (components on the map axes, docs/conventions.md),
the ``mask`` (1 observed, 0 masked) and the per-pixel, per-component noise standard deviation ``noise``
(:math:`\sigma`), all in physical units. Masked pixels hold 0 in ``g1``, ``g2`` and ``noise`` (a
``ShearMap``'s ``inf`` noise in masked pixels becomes 0 here, "no information"). A network with the
``wiener`` input takes a fifth field (:data:`WIENER_FIELD`), the Wiener map :math:`\kappa_{\rm WF}` of
the *whole* input (:func:`miu2net.physics.wiener.wiener_kappa`), computed before the map is tiled or
cropped: a tile then carries every scale of the field, not only its own. Build it with
:func:`raw_from_shear` or :func:`raw_from_sample`.

Input channels. :class:`InputEncoder` turns the raw tensor into the channels a network sees, chosen by
``inputs`` (any of :data:`INPUT_CHANNELS`, in any order):

* ``"g1"``, ``"g2"``: :math:`g_i m / s_g` with :math:`s_g` = ``shear_scale``;
* ``"mask"``: :math:`m`;
* ``"noise"``: the per-pixel noise as seen by the network, 0 on masked pixels, by ``noise_encoding``:

  - ``"log"`` (what ``miu2net train`` uses since one network serves every depth):
    :math:`\mathrm{clip}(\ln(\sigma_{\rm ref}/\sigma),\ \pm c)`. The value is linear in the log of the
    depth (:math:`\sigma \propto 1/\sqrt{N_{\rm gal}}`, so twice the galaxies add :math:`\ln 2/2`
    whatever the depth): over 5-100 galaxies/arcmin² and :math:`\sigma_e` = 0.26-0.40 the per-pixel
    :math:`\sigma` spans a factor of about 20 (Poisson counts of 1 to ~90 galaxies per pixel), i.e.
    about 3 units around 0, far inside the bound :math:`c` = ``noise_clip`` (4: a factor 55 either way,
    a guard against absurd input, never reached by real surveys). A masked pixel also reads 0 (as does
    :math:`\sigma = \sigma_{\rm ref}`), so this encoding needs the ``mask`` channel beside it.
  - ``"inverse"`` (the original encoding, the default of the class so that models saved before the
    option existed load unchanged): :math:`\min(\sigma_{\rm ref}/\sigma,\ c)`. It saturates for
    pixels more than :math:`c` times less noisy than the reference and squeezes shallow pixels towards
    the masked value 0 (a pixel with one galaxy at 5/arcmin² reads about 0.2 when the reference is the
    median of a 5-100/arcmin² set): fine at one depth, poor over a range of depths.

  :math:`\sigma_{\rm ref}` = ``noise_ref`` (the median :math:`\sigma` of the training set);
* ``"ks"``: the Kaiser-Squires E mode of the masked shear, zero-padded
  (:func:`miu2net.physics.operators.ks93_inverse` on torch, ``pad=True``), divided by :math:`s_g`;
* ``"wiener"``: the raw input's fifth field, :math:`\kappa_{\rm WF}/s_\kappa`.

Residual networks (``residual=True``, needs the ``wiener`` input). The network predicts the correction
to the Wiener map: its κ outputs (channels 0 and 2, and the same channels of every side output) are
:math:`\kappa_{\rm WF}/s_\kappa + \Delta`. On a Gaussian sky the Wiener map is already the posterior
mean, so the network's capacity goes to the non-Gaussian structure (halos, filaments); its largest
scales come from the whole field whatever the tile.

Output. A network predicts ``out_channels`` maps in standardised units; channel 0 is
:math:`\kappa/s_\kappa` (``kappa_scale``). With ``out_channels >= 2``, channel 1 is the log of the
per-pixel spread of κ given the data, :math:`\ln(\hat\sigma_\kappa/s_\kappa)` (trained with a Gaussian
negative log-likelihood, :mod:`miu2net.nn.losses`). With ``out_channels >= 3``, channel 2 is a second
estimate of :math:`\kappa/s_\kappa`, the *power-faithful* map (trained with the power-spectrum term,
while channel 0 is trained by the MSE alone and is the minimum-RMSE map, the posterior mean).
:meth:`MassMapNet.forward` returns physical units: channels 0 and 2 times :math:`s_\kappa` (κ), channel 1
as :math:`\hat\sigma_\kappa = s_\kappa \exp(\cdot)` (clamped to :math:`e^{\pm 20}`), further channels
unchanged. :math:`\hat\sigma_\kappa` is the raw,
uncalibrated spread; :mod:`miu2net.nn.calibration` turns it into intervals of stated coverage.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from miu2net.config.model_card import INPUT_CHANNELS, check_input_channels  # noqa: F401 (INPUT_CHANNELS re-exported)
from miu2net.errors import InputError

#: The raw input layout, in channel order.
RAW_FIELDS: tuple[str, ...] = ("g1", "g2", "mask", "noise")
#: The fifth raw field of networks with the ``wiener`` input (a sample's key of the same name).
WIENER_FIELD = "kappa_wiener"
#: The channels a network may be given (see the module docstring).
#: Default input normalisation (csst-like 0.41' pixels; the trainer estimates them from the data).
DEFAULT_NORMALISATION: dict[str, float] = {
    "shear_scale": 0.1,
    "noise_ref": 0.1,
    "noise_clip": 4.0,
    "kappa_scale": 0.02,
}
#: How the noise channel encodes sigma (module docstring).
NOISE_ENCODINGS: tuple[str, ...] = ("inverse", "log")
#: Bound on the standardised log-spread (channel 1) before exponentiation.
LOG_SPREAD_CLAMP = 20.0


def check_inputs(inputs: Any) -> tuple[str, ...]:
    """``inputs`` as a tuple of known channel names; InputError for unknown or repeated ones."""
    try:
        return check_input_channels(inputs)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def raw_from_arrays(g1: np.ndarray, g2: np.ndarray, mask: np.ndarray | None, noise: np.ndarray | None,
                    kappa_wiener: np.ndarray | None = None) -> np.ndarray:
    """The raw ``[4, ny, nx]`` float32 array (module docstring) from plain maps; ``[5, ny, nx]`` with
    ``kappa_wiener`` (the whole field's Wiener map) as the fifth field.

    ``noise`` None gives 0 everywhere (unknown); non-finite or non-positive noise counts as masked.
    """
    g1 = np.asarray(g1, dtype=np.float64)
    mask = np.ones_like(g1) if mask is None else (np.asarray(mask) > 0).astype(np.float64)
    if noise is None:
        sigma = np.zeros_like(g1)
    else:
        sigma = np.asarray(noise, dtype=np.float64)
        sigma = np.where(np.isfinite(sigma) & (sigma > 0) & (mask > 0), sigma, 0.0)
    g1 = np.where(mask > 0, np.nan_to_num(g1), 0.0)
    g2 = np.where(mask > 0, np.nan_to_num(np.asarray(g2, dtype=np.float64)), 0.0)
    fields = [g1, g2, mask, sigma]
    if kappa_wiener is not None:
        fields.append(np.asarray(kappa_wiener, dtype=np.float64))
    return np.stack(fields).astype(np.float32)


def raw_from_shear(shear: Any) -> np.ndarray:
    """The raw ``[4, ny, nx]`` array of a :class:`miu2net.maps.ShearMap`."""
    return raw_from_arrays(shear.g1, shear.g2, shear.mask, shear.noise)


def raw_from_sample(sample: dict) -> np.ndarray:
    """The raw array of a data-set sample with keys ``g1``, ``g2``, [``mask``, ``noise``, ``kappa_wiener``]:
    ``[5, ny, nx]`` when the sample carries its Wiener map, else ``[4, ny, nx]``."""
    return raw_from_arrays(sample["g1"], sample["g2"], sample.get("mask"), sample.get("noise"),
                           sample.get(WIENER_FIELD))


def with_wiener(sample: dict, pixel_arcmin: float | None) -> dict:
    """``sample`` with ``kappa_wiener``: its own, or the Wiener map of the sample's map (``pixel_arcmin``)."""
    if WIENER_FIELD in sample:
        return sample
    if pixel_arcmin is None:
        raise InputError("this network takes the Wiener map of the whole field (input 'wiener'): give the samples' "
                         "kappa_wiener or their pixel_arcmin")
    from miu2net.physics.wiener import wiener_kappa

    return {**sample, WIENER_FIELD: wiener_kappa(sample["g1"], sample["g2"], sample["mask"], sample["noise"],
                                                 pixel_arcmin=pixel_arcmin)}


def predict_samples(net: Any, samples: list[dict], *, batch_size: int = 16, device: str = "cpu",
                    pixel_arcmin: float | None = None) -> np.ndarray:
    """Outputs ``[N, C, ny, nx]`` (physical units, float64) of ``net`` (eval mode, no gradients) on
    data-set samples of the network's size, ``batch_size`` at a time. A network with the ``wiener`` input
    reads each sample's ``kappa_wiener``, or the Wiener map of the sample itself (:func:`with_wiener`)."""
    net = net.to(device).eval()
    needs_wiener = "wiener" in getattr(net, "inputs", ())
    outs = []
    with torch.inference_mode():
        for start in range(0, len(samples), batch_size):
            chunk = samples[start:start + batch_size]
            if needs_wiener:
                chunk = [with_wiener(s, pixel_arcmin) for s in chunk]
            raw = np.stack([raw_from_sample(s) for s in chunk])
            outs.append(net(torch.from_numpy(raw).to(device)).float().cpu().numpy())
    return np.concatenate(outs).astype(np.float64)


class InputEncoder(nn.Module):
    """Raw ``[B, 4, ny, nx]`` tensor -> the network's input channels (module docstring). No parameters."""

    def __init__(self, inputs: tuple[str, ...], *, shear_scale: float, noise_ref: float, noise_clip: float,
                 noise_encoding: str = "inverse", kappa_scale: float = DEFAULT_NORMALISATION["kappa_scale"]) -> None:
        super().__init__()
        self.inputs = check_inputs(inputs)
        if shear_scale <= 0 or noise_ref <= 0 or noise_clip <= 0:
            raise InputError("shear_scale, noise_ref and noise_clip must be > 0")
        if noise_encoding not in NOISE_ENCODINGS:
            raise InputError(f"noise_encoding must be one of {', '.join(NOISE_ENCODINGS)}; got {noise_encoding!r}")
        if noise_encoding == "log" and "noise" in self.inputs and "mask" not in self.inputs:
            raise InputError("noise_encoding='log' reads 0 both for masked pixels and for sigma = noise_ref; "
                             "add the 'mask' input channel or use noise_encoding='inverse'")
        self.shear_scale = float(shear_scale)
        self.noise_ref = float(noise_ref)
        self.noise_clip = float(noise_clip)
        self.noise_encoding = str(noise_encoding)
        self.kappa_scale = float(kappa_scale)

    @property
    def n_raw(self) -> int:
        """Fields of the raw input: 4, or 5 with the ``wiener`` input (module docstring)."""
        return len(RAW_FIELDS) + ("wiener" in self.inputs)

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        fields = ", ".join(RAW_FIELDS + ((WIENER_FIELD,) if self.n_raw > len(RAW_FIELDS) else ()))
        if raw.ndim != 4 or raw.shape[1] != self.n_raw:
            raise InputError(f"raw input must be [batch, {self.n_raw}, ny, nx] ({fields}); got shape {tuple(raw.shape)}")
        raw = raw.float()
        mask = (raw[:, 2:3] > 0).to(raw.dtype)
        g1 = raw[:, 0:1] * mask
        g2 = raw[:, 1:2] * mask
        channels = []
        for name in self.inputs:
            if name == "g1":
                channels.append(g1 / self.shear_scale)
            elif name == "g2":
                channels.append(g2 / self.shear_scale)
            elif name == "mask":
                channels.append(mask)
            elif name == "noise":
                sigma = raw[:, 3:4]
                ok = (sigma > 0) & (mask > 0)
                inv = self.noise_ref / torch.where(ok, sigma, torch.ones_like(sigma))
                if self.noise_encoding == "log":
                    value = torch.log(inv).clamp(-self.noise_clip, self.noise_clip)
                else:
                    value = inv.clamp(max=self.noise_clip)
                channels.append(torch.where(ok, value, torch.zeros_like(sigma)))
            elif name == "ks":
                from miu2net.physics.operators import ks93_inverse

                kappa_e, _ = ks93_inverse(g1, g2, pad=True)
                channels.append(kappa_e.to(raw.dtype) / self.shear_scale)
            elif name == "wiener":
                channels.append(raw[:, 4:5] / self.kappa_scale)
        return torch.cat(channels, dim=1)


class MassMapNet(nn.Module):
    """Base of the mass-mapping networks: input encoding, output scaling, and the deep-supervision hook.

    Subclasses build their layers for ``self.in_channels`` inputs and ``out_channels`` outputs and
    implement :meth:`_network` returning a list of standardised maps, the final one first (then any
    side outputs used for deep supervision).

    Args (keyword-only, all recorded in a checkpoint's JSON config):
        inputs: input channel names (:data:`INPUT_CHANNELS`).
        out_channels: 1 (kappa), 2 (then the log-spread channel for uncertainty) or 3 (then the
            power-faithful kappa).
        shear_scale, noise_ref, noise_clip, kappa_scale: input/output normalisation (module docstring).
        noise_encoding: ``"inverse"`` (default, the original encoding) or ``"log"`` (module docstring).
        residual: predict the correction to the Wiener map of the ``wiener`` input (module docstring).
    """

    def __init__(
        self,
        *,
        inputs: tuple[str, ...] = ("g1", "g2", "mask", "noise"),
        out_channels: int = 1,
        shear_scale: float = DEFAULT_NORMALISATION["shear_scale"],
        noise_ref: float = DEFAULT_NORMALISATION["noise_ref"],
        noise_clip: float = DEFAULT_NORMALISATION["noise_clip"],
        kappa_scale: float = DEFAULT_NORMALISATION["kappa_scale"],
        noise_encoding: str = "inverse",
        residual: bool = False,
    ) -> None:
        super().__init__()
        if int(out_channels) < 1:
            raise InputError(f"out_channels must be >= 1; got {out_channels}")
        if kappa_scale <= 0:
            raise InputError(f"kappa_scale must be > 0; got {kappa_scale}")
        self.encoder = InputEncoder(check_inputs(inputs), shear_scale=shear_scale, noise_ref=noise_ref,
                                    noise_clip=noise_clip, noise_encoding=noise_encoding, kappa_scale=kappa_scale)
        self.residual = bool(residual)
        if self.residual and "wiener" not in self.encoder.inputs:
            raise InputError("residual=True predicts the correction to the Wiener map: add the 'wiener' input channel")
        self.out_channels = int(out_channels)
        self.kappa_scale = float(kappa_scale)
        # Set by miu2net.nn.registry.create_model: the registered name and the keyword arguments.
        self.arch: str | None = None
        self.arch_kwargs: dict = {}

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.encoder.inputs

    @property
    def in_channels(self) -> int:
        return len(self.encoder.inputs)

    @property
    def normalisation(self) -> dict[str, float]:
        e = self.encoder
        return {"shear_scale": e.shear_scale, "noise_ref": e.noise_ref, "noise_clip": e.noise_clip,
                "kappa_scale": self.kappa_scale}

    @property
    def noise_encoding(self) -> str:
        return self.encoder.noise_encoding

    def _network(self, x: torch.Tensor) -> list[torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward_all(self, raw: torch.Tensor) -> list[torch.Tensor]:
        """Every output in standardised units (kappa / kappa_scale in channel 0), the final one first;
        a residual network's κ channels include the Wiener map (module docstring)."""
        outputs = self._network(self.encoder(raw))
        if not self.residual:
            return outputs
        base = raw[:, 4:5].float() / self.kappa_scale
        kappa_channels = [0, 2] if self.out_channels >= 3 else [0]
        shift = torch.cat([base if c in kappa_channels else torch.zeros_like(base) for c in range(self.out_channels)],
                          dim=1)
        return [out + shift for out in outputs]

    @property
    def n_raw(self) -> int:
        """Fields of the raw input the network takes (4, or 5 with the ``wiener`` input)."""
        return self.encoder.n_raw

    def to_physical(self, out: torch.Tensor) -> torch.Tensor:
        """Standardised output -> physical units: channels 0 and 2 times kappa_scale (κ, the
        minimum-RMSE and the power-faithful map), channel 1 as ``kappa_scale * exp(.)`` (the spread of κ),
        other channels unchanged."""
        if out.shape[1] == 1:
            return out * self.kappa_scale
        spread = self.kappa_scale * torch.exp(out[:, 1:2].clamp(-LOG_SPREAD_CLAMP, LOG_SPREAD_CLAMP))
        return torch.cat([out[:, :1] * self.kappa_scale, spread, out[:, 2:3] * self.kappa_scale, out[:, 3:]], dim=1)

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw ``[B, 4, ny, nx]`` (module docstring) -> ``[B, out_channels, ny, nx]``; channel 0 is kappa."""
        return self.to_physical(self.forward_all(raw)[0])
