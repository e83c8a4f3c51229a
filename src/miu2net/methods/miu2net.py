r"""MIU2Net: a trained U²-Net maps the observed shear, mask and noise map to the convergence.

The network (:mod:`miu2net.nn.u2net`, trained by ``miu2net train``) approximates the posterior mean of
κ given the noisy, masked reduced shear (its loss, :mod:`miu2net.nn.losses`, adds a power-spectrum term
so the map's :math:`C_\ell` is not suppressed). This module is a thin adapter: loading, input checks,
binning to the model's pixel, tiling, symmetrising, the calibrated ``SIGMA`` and ``DATAOK`` are
:mod:`miu2net.nn.inference`'s, shared with :mod:`miu2net.methods.deepmass`; see there for each.
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
    coverage: float = 0.68,
    symmetrise: bool = False,
    estimate: str = "mean",
    correction_ell_min: float | None = None,
) -> KappaMap:
    """MIU2Net convergence of a gridded shear map.

    Args:
        shear: gridded reduced shear with mask and (for models taking it) the noise map.
        model: path to ``NAME.safetensors``/``NAME.json`` (suffix optional), a model name under
            ``miu2net/models/``, or a loaded :class:`miu2net.nn.checkpoint.TrainedModel`; None: the shipped
            model of the input's pixel (``miu2net-csst`` at 0.41', ``miu2net-csst-quick`` at 0.82').
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.
        batch_size: tiles per forward pass.
        allow_mismatch: run even if the pixel scale, map size or noise level differ from the model's
            training data (the problems are recorded in ``meta["mismatch"]``). Input at an integer
            fraction of the model's pixel is binned to it instead (:mod:`miu2net.nn.inference`).
        network_overlap: overlap in pixels of the network's own tiles (its fixed input size; default a quarter
            of it); not the survey tiles of ``--tile``/``--tile-overlap``.
        b_mode: ``ks``, ``network`` or ``zero`` (:mod:`miu2net.nn.inference`).
        coverage: probability content of the interval ``kappa_e ± sigma`` of a calibrated model
            (0.68 default; any value in the model's calibrated grid, 0.01-0.999).
        symmetrise: average the network over the 8 rotations and reflections of the map (module
            docstring): 8 times the time, a smaller error; the calibration was made without it.
        estimate: ``mean`` (default): ``kappa_e`` is the minimum-RMSE map (the posterior mean; what
            ``sigma`` is calibrated for; for peaks, cross-correlations, mass) and ``kappa_power`` the
            power-faithful map; ``power``: ``kappa_e`` is the power-faithful map (power spectra,
            one-point PDF, higher-order statistics), ``kappa_mean`` the other and no ``sigma``. Needs a
            two-estimate model for ``power``.
        correction_ell_min: for a residual model (``miu2net-csst``), the correction to the whole field's
            Wiener map is high-passed at this ℓ (inverse radians; half its power kept there): None (default)
            the fundamental mode of the model's tile (411 for 128² of 0.41′), the scale below which a tile
            cannot know the field; 0 keeps the correction whole (:mod:`miu2net.nn.inference`).

    Returns:
        KappaMap (kappa_e from the network; kappa_b per ``b_mode``; for a calibrated model ``sigma``, the
        calibrated half-width at ``coverage``, and ``meta["chi2dof"]``, ``meta["dataok"]``) with the model's
        provenance in ``meta``; on the binned grid, with ``meta["binned"]``, when the input was binned.
    """
    return reconstruct_with_model(shear, method="miu2net", model=model, device=device, batch_size=batch_size,
                                  allow_mismatch=allow_mismatch, network_overlap=network_overlap, b_mode=b_mode,
                                  coverage=coverage, symmetrise=symmetrise, estimate=estimate,
                                  correction_ell_min=correction_ell_min)


METHOD = TrainedMethod("miu2net", reconstruct, options(
    "model", "device", "batch_size", "allow_mismatch", "network_overlap", "b_mode", "coverage",
    "symmetrise", "estimate", "correction_ell_min",
), family="miu2net")
