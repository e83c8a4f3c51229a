r"""The Kaiser-Squires (1993) operators on a flat grid, for NumPy arrays and torch tensors alike.

Convention (docs/conventions.md). Maps are indexed ``[..., y, x]``; the wave vector :math:`\ell = (\ell_1, \ell_2)`
has :math:`\ell_1` along x (last axis) and :math:`\ell_2` along y (second to last axis). With complex
shear :math:`\gamma = \gamma_1 + i\gamma_2`,

.. math::
    \hat\gamma = \hat D \hat\kappa, \qquad
    \hat D(\ell) = \frac{\ell_1^2 - \ell_2^2 + 2 i \ell_1 \ell_2}{|\ell|^2}, \qquad
    \hat\kappa_E + i \hat\kappa_B = \hat D^* \hat\gamma .

The operator is a pure phase (:math:`|\hat D| = 1`), independent of the pixel scale. The
:math:`\ell = 0` mode is unknown (the mass-sheet degeneracy) and set to zero in both directions. This is
the convention of ``lenspack.image.inversion.ks93`` (same axes, same signs).

Leading axes are batch axes. ``pad=True`` embeds each map in a zero-filled grid twice its size before the
FFT and crops the result, which removes the periodic wrap-around of the discrete transform (the field is
then treated as zero outside the map instead of periodic).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import scipy.fft as sfft


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def ks_kernel(ny: int, nx: int, *, rows: slice | None = None, conjugate: bool = False) -> np.ndarray:
    r""":math:`\hat D(\ell)` on the FFT grid of ``ny`` x ``nx`` pixels (module docstring), 0 at :math:`\ell = 0`.

    A pure phase, so the pixel scale does not enter; ``numpy.fft`` frequency order. ``rows`` gives a block
    of rows of the grid (large maps build it a block at a time); ``conjugate`` gives :math:`\hat D^*`.
    """
    l1 = np.fft.fftfreq(nx)[None, :]
    l2 = np.fft.fftfreq(ny)[rows if rows is not None else slice(None), None]
    l_sq = l1**2 + l2**2
    zero = l_sq == 0.0  # the l = 0 mode: unknown (mass sheet), set to 0
    l_sq[zero] = 1.0
    kernel = ((l1**2 - l2**2) + (-2j if conjugate else 2j) * (l1 * l2)) / l_sq
    kernel[zero] = 0.0
    return kernel


def _multiply_kernel(spectrum: np.ndarray, conjugate: bool, rows: int = 256) -> None:
    """``spectrum *= D`` (or D*) in place, :func:`ks_kernel` built a block of rows at a time (small
    temporaries: the cost stays proportional to the grid on large maps)."""
    ny, nx = spectrum.shape[-2:]
    for y0 in range(0, ny, rows):
        spectrum[..., y0 : y0 + rows, :] *= ks_kernel(ny, nx, rows=slice(y0, y0 + rows), conjugate=conjugate)


def _kernel_torch(ny: int, nx: int, like: Any) -> Any:
    """:func:`ks_kernel` as a torch tensor of ``like``'s precision and device (one kernel, two array types).

    Cached per grid, precision and device: the network's KS input channel calls this on every forward
    pass, and the kernel must not be rebuilt on the host and copied to the device each time. Read only.
    """
    import torch

    dtype = torch.complex128 if like.dtype in (torch.float64, torch.complex128) else torch.complex64
    return _kernel_on_device(ny, nx, dtype, like.device)


@lru_cache(maxsize=16)
def _kernel_on_device(ny: int, nx: int, dtype: Any, device: Any) -> Any:
    import torch

    return torch.from_numpy(ks_kernel(ny, nx)).to(device=device, dtype=dtype)


def _apply(field: Any, conjugate: bool, pad: bool) -> Any:
    """ifft2(D or D* times fft2(field)) over the last two axes of a complex field."""
    ny, nx = field.shape[-2:]
    size = (2 * ny, 2 * nx) if pad else (ny, nx)
    if _is_torch(field):
        import torch

        spectrum = torch.fft.fft2(field, s=size)
        kernel = _kernel_torch(*size, spectrum)
        out = torch.fft.ifft2(spectrum * (kernel.conj() if conjugate else kernel))
    else:
        # scipy.fft (pocketfft, in place): numpy.fft pays ~0.4 s on the first call of each large size
        # fft2(field, s=size) and its crop, done axis by axis so that the zero rows added by the padding
        # are never transformed and the rows cropped away never inverse-transformed
        spectrum = sfft.fft(field, n=size[1], axis=-1)
        spectrum = sfft.fft(spectrum, n=size[0], axis=-2, overwrite_x=True)
        _multiply_kernel(spectrum, conjugate)
        spectrum = sfft.ifft(spectrum, axis=-2, overwrite_x=True)[..., :ny, :]
        return np.ascontiguousarray(sfft.ifft(spectrum, axis=-1, overwrite_x=True)[..., :nx])
    return out[..., :ny, :nx]


def ks93_forward(kappa: Any, *, pad: bool = False) -> tuple[Any, Any]:
    r"""Shear of a convergence map: :math:`\hat\gamma = \hat D \hat\kappa` (Kaiser & Squires 1993).

    Args:
        kappa: convergence map(s), shape ``[..., ny, nx]`` (NumPy array or torch tensor).
        pad: zero-pad to twice the size (no periodic wrap-around) instead of a periodic transform.

    Returns:
        ``(gamma1, gamma2)``, same shape and array type as ``kappa``. The mean of kappa (the
        :math:`\ell = 0` mode) produces no shear.
    """
    if _is_torch(kappa):
        gamma = _apply(kappa.to(_complex_dtype_torch(kappa)), conjugate=False, pad=pad)
        return gamma.real, gamma.imag
    gamma = _apply(np.asarray(kappa, dtype=np.complex128), conjugate=False, pad=pad)
    return gamma.real, gamma.imag


def ks93_inverse(gamma1: Any, gamma2: Any, *, pad: bool = False) -> tuple[Any, Any]:
    r"""Kaiser-Squires inversion: :math:`\hat\kappa_E + i\hat\kappa_B = \hat D^* \hat\gamma`.

    Args:
        gamma1, gamma2: shear components, shape ``[..., ny, nx]`` (NumPy or torch, both alike).
            Masked pixels should hold 0.
        pad: zero-pad to twice the size before the FFT (no periodic wrap-around).

    Returns:
        ``(kappa_E, kappa_B)``: the E mode (the convergence, with zero mean over the FFT grid, as the
        :math:`\ell = 0` mode is set to 0; with ``pad`` that grid is the padded one, so the mean over the
        map itself need not vanish) and the B mode (zero for shear made by any real kappa).
    """
    if _is_torch(gamma1):
        import torch

        gamma = torch.complex(gamma1, gamma2)
        kappa = _apply(gamma, conjugate=True, pad=pad)
        return kappa.real, kappa.imag
    gamma = np.asarray(gamma1, dtype=np.float64) + 1j * np.asarray(gamma2, dtype=np.float64)
    kappa = _apply(gamma, conjugate=True, pad=pad)
    return kappa.real, kappa.imag


def _complex_dtype_torch(x: Any) -> Any:
    import torch

    return torch.complex128 if x.dtype == torch.float64 else torch.complex64


def rotate_shear(gamma1: Any, gamma2: Any, angle_rad: float) -> tuple[Any, Any]:
    r"""Rotate the shear's polarisation by ``angle_rad``: :math:`\gamma \to \gamma e^{2 i \phi}`.

    The shear is a spin-2 field, so its components turn by twice the angle. A rotation of
    :math:`\phi = \pi/4` turns an E-mode field into a pure B-mode field (:math:`\kappa_E + i\kappa_B`
    is multiplied by :math:`i`).
    """
    c, s = np.cos(2 * angle_rad), np.sin(2 * angle_rad)
    return c * gamma1 - s * gamma2, s * gamma1 + c * gamma2
