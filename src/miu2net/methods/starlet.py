r"""The starlet transform: the isotropic undecimated wavelet transform with the B3-spline (à trous).

Starck, Fadili & Murtagh (2007); Starck, Murtagh & Fadili, *Sparse Image and Signal Processing* (2015),
Sect. 3.5. With the B3-spline filter :math:`h = [1, 4, 6, 4, 1]/16` applied separably along x and y,
dilated at step :math:`j` by inserting :math:`2^j - 1` zeros between taps ("à trous"),

.. math::
    c_0 = \kappa, \qquad c_{j+1} = h^{(j)} \ast c_j, \qquad w_{j+1} = c_j - c_{j+1},
    \qquad \kappa = c_J + \sum_{j=1}^{J} w_j .

``starlet_transform`` returns the cube ``[w_1, ..., w_J, c_J]`` (finest detail scale first, the coarse
approximation last); reconstruction is the plain sum over the first axis. Detail scale ``j`` (0-based in
the cube) responds to structures of about :math:`2^{j}` to :math:`2^{j+1}` pixels. The transform is
linear and works on real or complex maps (real and imaginary parts are transformed alike).

Boundaries: ``"mirror"`` reflects the map about its edge pixels (``d c b | a b c d | c b a``), the
usual choice for a map of a finite field; ``"periodic"`` wraps around and is computed with FFTs, which
is exact and faster on the padded periodic grids the reconstruction methods work on.
In Fourier space the 1-D filter is :math:`\hat h(\omega) = \cos^4(\omega/2)` (:math:`\omega` in radians
per pixel), so on a periodic grid the coarse map at step :math:`j` is the map times
:math:`\prod_{i<j} \hat h(2^i\omega_x)\hat h(2^i\omega_y)` (:func:`starlet_filters`).

:func:`propagate_noise` gives the exact per-pixel noise standard deviation of every starlet scale of
a linear image of noise with a per-pixel variance map (used to set k-sigma thresholds).
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft

from miu2net.errors import InputError

B3_TAPS = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
BOUNDARIES = ("mirror", "periodic")


def max_scales(shape: tuple[int, int]) -> int:
    """The largest number of detail scales whose widest filter (``4 * 2**(J-1) + 1`` pixels) fits the map."""
    n = min(shape)
    j = 0
    while 4 * 2**j + 1 <= n:
        j += 1
    return j


DEFAULT_N_SCALES = 5


def check_n_scales(n_scales: int | None, shape: tuple[int, int]) -> int:
    """``n_scales`` as an int, or InputError when it is not a count of detail scales that fits ``shape``.

    None gives :data:`DEFAULT_N_SCALES` (5: structures up to 32 pixels, 13 arcmin at 0.41 arcmin), or
    :func:`max_scales` for maps too small for it.
    """
    if n_scales is None:
        return max(1, min(DEFAULT_N_SCALES, max_scales(shape)))
    _check(tuple(shape), n_scales, "mirror")
    return int(n_scales)


def _check(shape: tuple[int, ...], n_scales: int, boundary: str) -> None:
    if len(shape) < 2:
        raise InputError(f"starlet maps must be at least 2-D [..., y, x]; got shape {shape}")
    if boundary not in BOUNDARIES:
        raise InputError(f"boundary must be one of {BOUNDARIES}; got {boundary!r}")
    if isinstance(n_scales, bool) or not isinstance(n_scales, (int, np.integer)) or n_scales < 1:
        raise InputError(f"n_scales must be a positive integer (number of detail scales); got {n_scales!r}")
    j_max = max_scales(shape[-2:])
    if n_scales > j_max:
        raise InputError(
            f"n_scales={n_scales} is too many for a {shape[-2]}x{shape[-1]} map: the widest filter must fit "
            f"inside it; use n_scales <= {j_max}"
        )


def _shifted(padded: np.ndarray, axis: int, start: int, n: int) -> np.ndarray:
    """The view ``padded[..., start:start + n, ...]`` along ``axis``."""
    sl = [slice(None)] * padded.ndim
    sl[axis] = slice(start, start + n)
    return padded[tuple(sl)]


def _smooth_pixel(image: np.ndarray, step: int, mode: str) -> np.ndarray:
    """One B3-spline smoothing with taps ``step`` pixels apart along the last two axes (pixel space)."""
    out = image
    for axis in (-1, -2):
        reach = 2 * step
        pad = [(0, 0)] * out.ndim
        pad[axis] = (reach, reach)
        padded = np.pad(out, pad, mode=mode)
        n = out.shape[axis]
        tap = [_shifted(padded, axis, k * step, n) for k in range(5)]
        # symmetric taps [1, 4, 6, 4, 1]/16, summed in place (Python floats keep float32 maps in float32)
        acc = tap[2] * float(B3_TAPS[2])
        pair = np.add(tap[1], tap[3])
        pair *= float(B3_TAPS[1])
        acc += pair
        np.add(tap[0], tap[4], out=pair)
        pair *= float(B3_TAPS[0])
        acc += pair
        out = acc
    return out


def _transform_pixel(image: np.ndarray, n_scales: int, mode: str) -> np.ndarray:
    """À-trous transform in pixel space; ``mode`` is numpy.pad's ('reflect' = mirror, 'wrap' = periodic)."""
    coeffs = np.empty((n_scales + 1, *image.shape), dtype=image.dtype)
    current = image
    for j in range(n_scales):
        smoother = _smooth_pixel(current, 2**j, mode)
        np.subtract(current, smoother, out=coeffs[j])
        current = smoother
    coeffs[n_scales] = current
    return coeffs


def _b3_response(shape: tuple[int, int], step: int) -> np.ndarray:
    """Fourier response of one separable B3 smoothing with taps ``step`` apart: cos^4(step*w/2) per axis."""
    wy = 2 * np.pi * sfft.fftfreq(shape[0])[:, None]
    wx = 2 * np.pi * sfft.fftfreq(shape[1])[None, :]
    return (np.cos(step * wy / 2) ** 4) * (np.cos(step * wx / 2) ** 4)


def starlet_filters(shape: tuple[int, int], *, n_scales: int) -> np.ndarray:
    r"""Fourier transfer functions of the starlet scales on a periodic grid of ``shape`` ``(ny, nx)``.

    Returns a real array ``[n_scales + 1, ny, nx]`` in FFT order (``scipy.fft.fftfreq``): detail scale
    ``j`` is :math:`\Phi_j - \Phi_{j+1}` with :math:`\Phi_j = \prod_{i<j}\hat h(2^i\omega)`, the last entry
    is the coarse :math:`\Phi_J`. The entries sum to 1 at every frequency (exact reconstruction).
    """
    _check(tuple(shape), n_scales, "periodic")
    filters = np.empty((n_scales + 1, *shape))
    cumulative = np.ones(shape)
    for j in range(n_scales):
        smoother = cumulative * _b3_response(shape, 2**j)
        filters[j] = cumulative - smoother
        cumulative = smoother
    filters[n_scales] = cumulative
    return filters


def starlet_transform(image: np.ndarray, *, n_scales: int, boundary: str = "mirror") -> np.ndarray:
    """Starlet coefficients ``[n_scales + 1, ..., ny, nx]`` of a map (finest detail first, coarse last).

    Args:
        image: real or complex map ``[..., ny, nx]`` (leading axes are transformed independently).
        n_scales: number of detail scales J (dimensionless count, >= 1); scale j covers structures of
            about 2**j to 2**(j+1) pixels. At most :func:`max_scales` for the map size.
        boundary: ``"mirror"`` (reflect about the edge pixels) or ``"periodic"`` (FFT, exact wrap-around).

    Returns:
        The coefficient cube; ``coeffs.sum(axis=0)`` gives back ``image`` to rounding error.
    """
    image = np.asarray(image)
    _check(image.shape, n_scales, boundary)
    if not np.iscomplexobj(image):
        image = image.astype(np.float64, copy=False)
    if boundary == "mirror":
        return _transform_pixel(image, n_scales, "reflect")
    filters = starlet_filters(image.shape[-2:], n_scales=n_scales)
    return _apply_filters(image, filters)


def _apply_filters(image: np.ndarray, filters: np.ndarray) -> np.ndarray:
    """Periodic starlet coefficients of ``image`` with precomputed ``filters`` (from :func:`starlet_filters`)."""
    shaped = filters.reshape(filters.shape[:1] + (1,) * (image.ndim - 2) + filters.shape[1:])
    if np.iscomplexobj(image):
        return sfft.ifft2(shaped * sfft.fft2(image))
    nx = image.shape[-1]
    half = shaped[..., : nx // 2 + 1]  # the filters are even in frequency: the rfft half suffices
    return sfft.irfft2(half * sfft.rfft2(image), s=image.shape[-2:])


def starlet_reconstruct(coeffs: np.ndarray) -> np.ndarray:
    """The map whose starlet coefficients are ``coeffs``: the sum of all scales (first axis)."""
    return np.asarray(coeffs).sum(axis=0)


def white_noise_norms(*, n_scales: int, size: int = 256) -> np.ndarray:
    r"""Standard deviation of each starlet scale of unit-variance white noise (periodic, exact).

    These are the :math:`\ell_2` norms of the scale filters, :math:`\sigma_j = \|\psi_j\|_2`
    (about 0.890, 0.201, 0.086, 0.041, 0.020, ... for the B3 starlet). Returns ``n_scales + 1`` values
    (the last for the coarse scale), computed on a ``size`` x ``size`` grid.
    """
    filters = starlet_filters((size, size), n_scales=n_scales)
    return np.sqrt((filters**2).mean(axis=(1, 2)))


def propagate_noise(
    variance: np.ndarray, *, n_scales: int, transfer: np.ndarray | None = None, filters: np.ndarray | None = None
) -> np.ndarray:
    r"""Per-pixel noise standard deviation of every starlet scale of a filtered noise map (periodic grid).

    The noise image is :math:`e = \mathcal F^{-1}[T\,\mathcal F n]` where :math:`n` is independent
    per pixel with variance map :math:`V` (for complex noise with independent components of variance
    :math:`V`, the result holds for the real and for the imaginary part of :math:`e`). Scale :math:`j` of
    :math:`e` has variance

    .. math:: \sigma_j^2(x) = \sum_y |k_j(x - y)|^2\, V(y), \qquad k_j = \mathcal F^{-1}[\psi_j T],

    a convolution computed with FFTs, so the result is exact, not a Monte Carlo estimate.

    Args:
        variance: per-pixel noise variance ``[ny, nx]`` (0 where there is no noise or no data).
        n_scales: number of detail scales.
        transfer: Fourier transfer function ``T`` of the linear map applied to the noise (FFT order,
            same shape); None for the identity (noise straight into the transform).
        filters: precomputed :func:`starlet_filters` for this shape (optional, saves time).

    Returns:
        ``[n_scales + 1, ny, nx]`` standard deviations (the last for the coarse scale).
    """
    variance = np.asarray(variance, dtype=np.float64)
    shape = variance.shape
    if filters is None:
        filters = starlet_filters(shape, n_scales=n_scales)
    var_hat = sfft.fft2(variance)
    out = np.empty((n_scales + 1, *shape))
    for j in range(n_scales + 1):
        response = filters[j] if transfer is None else filters[j] * transfer
        kernel_power = np.abs(sfft.ifft2(response)) ** 2
        out[j] = np.sqrt(np.clip(sfft.ifft2(sfft.fft2(kernel_power) * var_hat).real, 0.0, None))
    return out


__all__ = [
    "B3_TAPS",
    "DEFAULT_N_SCALES",
    "check_n_scales",
    "max_scales",
    "propagate_noise",
    "starlet_filters",
    "starlet_reconstruct",
    "starlet_transform",
    "white_noise_norms",
]
