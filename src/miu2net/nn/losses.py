r"""The training loss of MIU2Net: a spatial term plus a power-spectrum term, over every output.

For a prediction :math:`\hat\kappa` and the truth :math:`\kappa`, both in standardised units
(:math:`\kappa/s_\kappa`, see :mod:`miu2net.nn.base`),

.. math::
    L(\hat\kappa, \kappa) = \alpha\, \frac{1}{N_{\rm pix}}\sum_{\rm pix} \rho(\hat\kappa - \kappa)
      + \beta\, \frac{1}{N_b}\sum_{b:\ \bar\ell_b \le \ell_{\rm max}}
        \frac{\left|\hat C_b[\hat\kappa] - \hat C_b[\kappa]\right|}{\Omega_{\rm pix}} ,

with :math:`\rho(u) = u^2` (MSE) or the Huber function of width ``huber_delta``, :math:`\hat C_b` the
radially averaged power spectrum (RAPS) in bin b with exactly the normalisation and binning of
:func:`miu2net.stats.spectra.power_spectrum` (:class:`BinnedPowerSpectrum`), :math:`\bar\ell_b` the mean
:math:`|\ell|` of the bin's modes, and :math:`\Omega_{\rm pix}` the pixel solid angle, which makes the
second term dimensionless (a white map of unit variance has :math:`\hat C_b/\Omega_{\rm pix} = 1`).
With ``relative=True`` the spectral difference is divided by :math:`\hat C_b[\kappa]` instead, i.e. the
mean fractional power error. The L1 distance between power spectra up to a cut-off is the frequency
term of MIU2Net (arXiv:2601.13538); here the cut-off is in :math:`\ell` (inverse radians) and the bins
are those of the package's C_ell estimator.

Spread (calibrated uncertainty). With ``spread="gaussian_nll"`` the network's channel 1 is
:math:`s = \ln(\hat\sigma/s_\kappa)` (:mod:`miu2net.nn.base`) and the loss adds
:math:`\gamma\,\frac{1}{N_{\rm pix}}\sum_{\rm pix}\left[\tfrac12 (\hat\kappa - \kappa)^2 e^{-2s} + s\right]`
(:math:`\gamma` = ``spread_weight``), the Gaussian negative log-likelihood of the truth given
:math:`(\hat\kappa, \hat\sigma)` less its constant :math:`\tfrac12\ln 2\pi`. Minimised pixel by pixel,
:math:`e^{2s}` is the expected squared error of :math:`\hat\kappa` given the data. With
``spread_detach_mean`` (default) the NLL sees :math:`\hat\kappa` detached, so κ is trained by the
spatial and spectral terms alone (the posterior mean of the MSE, and the power spectrum) and the NLL
only shapes :math:`\hat\sigma`; without it the NLL also pulls :math:`\hat\kappa`, down-weighting the
pixels it deems noisy. :math:`s` is clamped to ``[-15, 15]`` inside the NLL.

Two estimates (``power_channel``, set to 2 for a network with three output channels): channel 0 is
then trained by the spatial term alone, the minimum-RMSE map (the posterior mean for the MSE), and
channel ``power_channel`` by the spatial plus the spectral term, the power-faithful map. One map cannot
be both: the posterior mean suppresses the power of the scales where the noise dominates, which the
spectral term restores at a cost in RMSE. The spread channel describes the error of channel 0.

Deep supervision: the total is :math:`\sum_o w_o L(\hat\kappa_o, \kappa)` over the fused output and the
six side outputs of U²-Net (``output_weights``, default all 1), as in U²-Net and MIU2Net. Spectra are
computed in float32 (float64 for float64 input) whatever the autocast precision.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from miu2net.errors import InputError
from miu2net.physics.fourier import spectrum_bins
from miu2net.physics.units import ARCMIN_TO_RAD

#: Losses for the spread channel (module docstring).
SPREAD_LOSSES: tuple[str, ...] = ("none", "gaussian_nll")


class BinnedPowerSpectrum(nn.Module):
    r"""Torch C_ell estimator of :mod:`miu2net.stats.spectra`, per map: ``[..., ny, nx] -> [..., n_bins]``.

    :math:`\hat C_b = \langle |\Delta^2\, {\rm fft2}(\kappa)|^2 \rangle_b / A` with :math:`A = N_{\rm pix}\Delta^2`,
    averaged over the modes of bin b (the :math:`\ell = 0` mode excluded). Unlike the NumPy function,
    leading axes are kept (one spectrum per map); average them to compare. Empty bins give NaN.
    """

    def __init__(self, shape: tuple[int, int], pixel_arcmin: float, *, ell_edges: np.ndarray | None = None,
                 n_bins: int = 20) -> None:
        super().__init__()
        self.shape = (int(shape[0]), int(shape[1]))
        self.pixel_arcmin = float(pixel_arcmin)
        self.bins = spectrum_bins(self.shape, pixel_arcmin, ell_edges=ell_edges, n_bins=n_bins)
        self.register_buffer("index", torch.as_tensor(self.bins.index, dtype=torch.long), persistent=False)
        self.register_buffer("which", torch.as_tensor(self.bins.which, dtype=torch.long), persistent=False)
        self.register_buffer("n_modes", torch.as_tensor(self.bins.n_modes, dtype=torch.float64), persistent=False)

    @property
    def n_bins(self) -> int:
        return len(self.bins.n_modes)

    @property
    def pixel_sr(self) -> float:
        """Pixel solid angle in steradians."""
        return (self.pixel_arcmin * ARCMIN_TO_RAD) ** 2

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        if tuple(maps.shape[-2:]) != self.shape:
            raise InputError(f"maps of shape {tuple(maps.shape[-2:])} given to a spectrum built for {self.shape}")
        dtype = torch.float64 if maps.dtype == torch.float64 else torch.float32
        lead = maps.shape[:-2]
        n_pix = self.shape[0] * self.shape[1]
        f = torch.fft.fft2(maps.to(dtype))
        power = (f.real.square() + f.imag.square()).reshape(-1, n_pix) * (self.pixel_sr / n_pix)
        sums = torch.zeros(power.shape[0], self.n_bins, dtype=dtype, device=maps.device)
        sums.index_add_(1, self.which, power[:, self.index])
        return (sums / self.n_modes.to(dtype)).reshape(*lead, self.n_bins)


def power_spectrum_torch(maps: torch.Tensor, pixel_arcmin: float, *, ell_edges: np.ndarray | None = None,
                         n_bins: int = 20) -> tuple[np.ndarray, torch.Tensor]:
    """``(ell, C_ell)`` of each map ``[..., ny, nx]``, the torch twin of :func:`miu2net.stats.power_spectrum`."""
    spec = BinnedPowerSpectrum(tuple(maps.shape[-2:]), pixel_arcmin, ell_edges=ell_edges, n_bins=n_bins).to(maps.device)
    return spec.bins.ell, spec(maps)


class MassMappingLoss(nn.Module):
    """Spatial + power-spectrum loss summed over deep-supervision outputs (module docstring).

    Args:
        pixel_arcmin: pixel side of the training maps (sets the :math:`\\ell` of the bins).
        spatial: ``"mse"`` or ``"huber"``.
        huber_delta: width of the Huber function, in standardised units.
        spatial_weight: :math:`\\alpha`.
        freq_weight: :math:`\\beta` (0 switches the spectral term off; 0.1 by default, a starting point to tune).
        ell_max: largest bin-mean :math:`\\ell` (inverse radians) in the spectral term; None: all bins.
        n_bins: number of logarithmic bins (:func:`miu2net.stats.spectra.default_ell_edges`).
        relative: spectral term as the fractional difference (see the module docstring).
        output_weights: weight of each output (fused first, then sides); None: all 1. Shorter than the
            number of outputs: the remaining outputs get weight 0.
        channel: output channel holding kappa.
        spread: ``"none"`` or ``"gaussian_nll"`` (module docstring; needs a second output channel).
        spread_weight: :math:`\\gamma`, the weight of the NLL term.
        spread_detach_mean: the NLL does not back-propagate into κ (module docstring).
        spread_channel: output channel holding the log-spread.
        power_channel: output channel of the power-faithful map (module docstring); None: channel 0
            takes both terms (one estimate).
    """

    def __init__(
        self,
        *,
        pixel_arcmin: float,
        spatial: str = "mse",
        huber_delta: float = 1.0,
        spatial_weight: float = 1.0,
        freq_weight: float = 0.1,
        ell_max: float | None = None,
        n_bins: int = 20,
        relative: bool = False,
        output_weights: Sequence[float] | None = None,
        channel: int = 0,
        spread: str = "none",
        spread_weight: float = 1.0,
        spread_detach_mean: bool = True,
        spread_channel: int = 1,
        power_channel: int | None = None,
    ) -> None:
        super().__init__()
        if spatial not in ("mse", "huber"):
            raise InputError(f"spatial loss must be 'mse' or 'huber'; got {spatial!r}")
        if spatial_weight < 0 or freq_weight < 0 or huber_delta <= 0:
            raise InputError("spatial_weight and freq_weight must be >= 0 and huber_delta > 0")
        self.pixel_arcmin = float(pixel_arcmin)
        self.spatial = spatial
        self.huber_delta = float(huber_delta)
        self.spatial_weight = float(spatial_weight)
        self.freq_weight = float(freq_weight)
        self.ell_max = None if ell_max is None else float(ell_max)
        self.n_bins = int(n_bins)
        self.relative = bool(relative)
        self.output_weights = None if output_weights is None else [float(w) for w in output_weights]
        self.channel = int(channel)
        if spread not in SPREAD_LOSSES:
            raise InputError(f"spread loss must be one of {', '.join(SPREAD_LOSSES)}; got {spread!r}")
        if spread_weight < 0:
            raise InputError(f"spread_weight must be >= 0; got {spread_weight}")
        self.spread = spread
        self.spread_weight = float(spread_weight)
        self.spread_detach_mean = bool(spread_detach_mean)
        self.spread_channel = int(spread_channel)
        if power_channel is not None and int(power_channel) in (self.channel, self.spread_channel):
            raise InputError(f"power_channel {power_channel} must differ from the kappa channel {self.channel} and "
                             f"the spread channel {self.spread_channel}")
        self.power_channel = None if power_channel is None else int(power_channel)
        self._spectra: dict[tuple, tuple[BinnedPowerSpectrum, torch.Tensor]] = {}

    def _spectrum(self, shape: tuple[int, int], device: torch.device) -> tuple[BinnedPowerSpectrum, torch.Tensor]:
        key = (shape, str(device))
        if key not in self._spectra:
            spec = BinnedPowerSpectrum(shape, self.pixel_arcmin, n_bins=self.n_bins).to(device)
            keep = spec.bins.n_modes > 0
            if self.ell_max is not None:
                keep &= spec.bins.ell <= self.ell_max
            if not keep.any():
                raise InputError(f"ell_max = {self.ell_max} keeps no power-spectrum bin (lowest bin at "
                                 f"ell = {np.nanmin(spec.bins.ell):.4g})")
            self._spectra[key] = (spec, torch.as_tensor(np.flatnonzero(keep), device=device))
        return self._spectra[key]

    def spatial_term(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pred, target = pred.float(), target.float()
        if self.spatial == "huber":
            return F.huber_loss(pred, target, delta=self.huber_delta)
        return F.mse_loss(pred, target)

    def spectral_term(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        spec, keep = self._spectrum(tuple(pred.shape[-2:]), pred.device)
        c_pred = spec(pred)[..., keep]
        c_true = spec(target)[..., keep]
        if self.relative:
            return ((c_pred - c_true).abs() / c_true.clamp_min(1e-30)).mean()
        return (c_pred - c_true).abs().mean() / spec.pixel_sr

    def spread_term(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Gaussian NLL (module docstring) of the standardised truth under an output ``[B, C, ny, nx]``."""
        c = self.spread_channel
        if out.shape[1] <= c:
            raise InputError(f"the spread loss reads output channel {c}, but the network has {out.shape[1]} "
                             "output channel(s); train with out_channels=2")
        mean = out[:, self.channel : self.channel + 1].float()
        if self.spread_detach_mean:
            mean = mean.detach()
        log_sigma = out[:, c : c + 1].float().clamp(-15.0, 15.0)
        return torch.mean(0.5 * (mean - target.float()).square() * torch.exp(-2.0 * log_sigma) + log_sigma)

    def forward(self, outputs: torch.Tensor | Sequence[torch.Tensor], target: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Total loss and its parts (``spatial``, ``freq``, with a spread loss ``nll``, with two estimates
        ``spatial_power`` (the power-faithful map's spatial term; ``freq`` is then its spectral term): of the
        fused output; ``total``).

        Args:
            outputs: one ``[B, C, ny, nx]`` tensor or a list (fused first, then side outputs).
            target: ``[B, 1, ny, nx]`` (or ``[B, ny, nx]``) standardised truth.
        """
        outputs = [outputs] if isinstance(outputs, torch.Tensor) else list(outputs)
        if target.ndim == 3:
            target = target[:, None]
        weights = self.output_weights or [1.0] * len(outputs)
        total = target.new_zeros((), dtype=torch.float32)
        parts = {}
        for i, out in enumerate(outputs):
            w = weights[i] if i < len(weights) else 0.0
            if w == 0 and i > 0:
                continue
            pred = out[:, self.channel : self.channel + 1]
            s = self.spatial_term(pred, target)
            if self.power_channel is None:
                f = self.spectral_term(pred, target) if self.freq_weight > 0 else s.new_zeros(())
                total = total + w * (self.spatial_weight * s + self.freq_weight * f)
            else:
                if out.shape[1] <= self.power_channel:
                    raise InputError(f"the power-faithful map is output channel {self.power_channel}, but the "
                                     f"network has {out.shape[1]} output channel(s); train with out_channels=3")
                power = out[:, self.power_channel : self.power_channel + 1]
                s_power = self.spatial_term(power, target)
                f = self.spectral_term(power, target) if self.freq_weight > 0 else s.new_zeros(())
                total = total + w * self.spatial_weight * (s + s_power) + w * self.freq_weight * f
            if self.spread != "none":
                nll = self.spread_term(out, target)
                total = total + w * self.spread_weight * nll
            if i == 0:
                parts = {"spatial": s.detach(), "freq": f.detach()}
                if self.power_channel is not None:
                    parts["spatial_power"] = s_power.detach()
                if self.spread != "none":
                    parts["nll"] = nll.detach()
        parts["total"] = total.detach()
        return total, parts
