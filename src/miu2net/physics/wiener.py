r"""The Wiener filter's solver: the posterior mean of a Gaussian convergence field given masked, noisy shear.

Model (Jeffrey et al. 2018, arXiv:1801.08945, on a flat grid). The data are the complex shear
:math:`d = A\kappa + n` on the observed pixels, with :math:`\kappa = \kappa_E + i\kappa_B`, the KS93
forward operator :math:`A = \mathcal F^{-1}\hat D\mathcal F` (see :mod:`miu2net.physics.operators`),
noise independent per pixel with variance :math:`\sigma^2(x)` per shear component (``ShearMap.noise``;
masked pixels carry no information, :math:`N^{-1} = 0`), and a Gaussian prior on :math:`\kappa_E` of
power spectrum :math:`C_\ell` (pyccl, :func:`miu2net.physics.cosmology.kappa_cl`) and on
:math:`\kappa_B` of power :math:`r_B C_\ell` (option ``b_mode_prior``). The posterior mean is

.. math:: \kappa_{\rm WF} = \left(S^{-1} + A^\dagger N^{-1} A\right)^{-1} A^\dagger N^{-1} d .

It is solved without ever inverting S, in whitened variables :math:`\kappa = S^{1/2} y`:

.. math:: \left(1 + S^{1/2} A^\dagger N^{-1} A S^{1/2}\right) y = S^{1/2} A^\dagger N^{-1} d ,

a symmetric positive-definite system (eigenvalues between 1 and 1 + the largest signal-to-noise ratio
per mode). In this normalisation the discrete Fourier transform of a real field has
:math:`\langle|{\rm fft2}\,\kappa|^2\rangle = N_{\rm pix} C_\ell/\Delta^2` (:math:`\Delta` the pixel side
in radians), i.e. :math:`S = \mathcal F^{-1}{\rm diag}(C_\ell/\Delta^2)\mathcal F`, the normalisation of
:mod:`miu2net.stats.spectra`. The :math:`\ell = 0` mode (mass sheet) has zero prior power and is zero in
the result (the mean over the padded grid). Jeffrey et al. solve the same system with a messenger field.

Cost. Every operator is diagonal either in pixel space (:math:`N^{-1}`, the mask) or in Fourier space
(:math:`S`, :math:`A`); the unknowns are kept as real FFTs, so one iteration costs two inverse and two
forward real FFTs per right-hand side (:class:`WienerSolver`). Conjugate gradients are preconditioned
by the Fourier-diagonal :math:`(1 + \bar w S)^{-1}` (:math:`\bar w` the mean inverse noise variance),
exact for a complete field of uniform noise: whitening by :math:`S^{1/2}` alone leaves the condition
number at 1 + the largest S/N per mode, which grows as a larger map reaches lower ℓ, so the iteration
count grows with the map, while with this preconditioner it stays nearly flat (the counts by map size:
``benchmarks/speed_methods.py``, docs/speed.md). The
C_ℓ table from pyccl is computed once per source configuration and process (cached); the prior on the
grid is then an interpolation. The cost therefore grows like :math:`N_{\rm pix}\log N_{\rm pix}`.
With ``b_mode_prior = 0`` the B-mode null test is a second right-hand side of the same batched CG.

Finite field. With ``pad=True`` the map is placed at the centre of a periodic grid with an unobserved
margin (:math:`N^{-1}=0`) of ``pad_pixels`` on each side: the map is treated as a cut of a larger sky,
and the prior fills the surroundings, so no periodic wrap-around couples opposite edges. The margin is
a fixed angle (26′ by default, :data:`DEFAULT_PAD_ARCMIN`), not a fraction of the map.

Used by the ``wiener`` and ``mcalens`` methods (:mod:`miu2net.methods.wiener`, with the option checks
and the :class:`~miu2net.maps.ShearMap` glue there) and by the networks whose input is the Wiener map of
the whole field (:func:`wiener_kappa`: the ``wiener`` input channel of :mod:`miu2net.nn.base`, computed
once for the whole input before any tiling, and in the training stream for the whole simulated map).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft

from miu2net.errors import InputError
from miu2net.physics.fourier import ell_grid
from miu2net.physics.operators import ks_kernel
from miu2net.physics.units import ARCMIN_TO_RAD

#: Source redshift of the default prior (the csst preset's single source plane).
DEFAULT_Z_SOURCE = 1.0
#: The unobserved margin around a padded map, in arcmin (``pad_pixels`` None): 32 pixels at 0.82′. The
#: margin must hold the reach of the shear's wrap-around, which is an angle, not a number of pixels;
#: this one is the smallest whose 2′-smoothed error on csst maps stays within half a percent of a margin
#: twice as wide (``benchmarks/results/quality_csst_margin26``).
DEFAULT_PAD_ARCMIN = 26.0


def margin_pixels(pad_pixels: int | None, pixel_arcmin: float) -> int:
    """``pad_pixels``, or by default the pixels of :data:`DEFAULT_PAD_ARCMIN` on this grid (rounded up)."""
    if pad_pixels is None:
        return int(math.ceil(DEFAULT_PAD_ARCMIN / float(pixel_arcmin) - 1e-9))
    return check_count("pad_pixels", pad_pixels, minimum=0)


# ----------------------------------------------------------------------------------------------------
# Option checks shared by the methods
# ----------------------------------------------------------------------------------------------------
def check_positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    """``value`` as a float, or InputError naming the option when it is not a finite number > 0 (>= 0)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"option {name} must be a number; got {value!r}") from None
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise InputError(f"option {name} must be a finite number {bound}; got {value!r}")
    return number


def check_count(name: str, value: int, *, minimum: int = 1) -> int:
    """``value`` as an int, or InputError when it is not an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"option {name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InputError(f"option {name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


# ----------------------------------------------------------------------------------------------------
# The padded grid and the operators on it (shared by the iterative methods)
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LensingGrid:
    r"""A map of ``shape`` placed at the centre of a periodic grid of ``padded_shape``, with the KS93 operator.

    ``forward`` is :math:`\gamma = \mathcal F^{-1}\hat D\mathcal F\kappa` and ``adjoint`` is
    :math:`\kappa_E + i\kappa_B = \mathcal F^{-1}\hat D^*\mathcal F\gamma` on the padded grid
    (the convention of :mod:`miu2net.physics.operators`: :math:`\ell_1` along x, the ℓ = 0 mode zero).
    Both are unitary on the modes with :math:`\ell \neq 0`.
    """

    shape: tuple[int, int]
    padded_shape: tuple[int, int]
    offset: tuple[int, int]
    pixel_arcmin: float
    kernel: np.ndarray

    @classmethod
    def build(
        cls, shape: tuple[int, int], pixel_arcmin: float, *, pad: bool, margin: int | None = None
    ) -> LensingGrid:
        """The map centred in a larger periodic grid when ``pad``, else the map itself (periodic).

        ``margin=None``: twice the map's size per side (a margin of half a map all around). An integer:
        at least ``margin`` pixels on each side, the padded sides rounded up to sizes whose FFTs are
        fast (products of 2, 3 and 5), so the padded grid grows like the map.
        """
        ny, nx = shape
        if not pad:
            padded = (ny, nx)
        elif margin is None:
            padded = (2 * ny, 2 * nx)
        else:
            padded = (sfft.next_fast_len(ny + 2 * margin, real=True), sfft.next_fast_len(nx + 2 * margin, real=True))
        offset = ((padded[0] - ny) // 2, (padded[1] - nx) // 2)
        return cls(tuple(shape), padded, offset, float(pixel_arcmin), ks_kernel(*padded))

    @property
    def window(self) -> tuple[slice, slice]:
        """Slices of the padded grid that hold the map."""
        y0, x0 = self.offset
        return slice(y0, y0 + self.shape[0]), slice(x0, x0 + self.shape[1])

    def embed(self, image: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """``image`` placed in the padded grid, ``fill`` elsewhere."""
        image = np.asarray(image)
        out = np.full(image.shape[:-2] + self.padded_shape, fill, dtype=image.dtype)
        out[(...,) + self.window] = image
        return out

    def crop(self, image: np.ndarray) -> np.ndarray:
        """The map part of a padded-grid image."""
        return image[(...,) + self.window]

    @property
    def inside(self) -> np.ndarray:
        """Boolean map of the padded grid, True on the map's own pixels."""
        return self.embed(np.ones(self.shape, dtype=bool), fill=False)

    def forward(self, kappa: np.ndarray) -> np.ndarray:
        """Complex shear of a (complex E + iB) convergence on the padded grid."""
        return sfft.ifft2(self.kernel * sfft.fft2(kappa))

    def adjoint(self, gamma: np.ndarray) -> np.ndarray:
        """Complex convergence E + iB of a complex shear on the padded grid (KS93 inverse)."""
        return sfft.ifft2(np.conj(self.kernel) * sfft.fft2(gamma))

    def ell(self) -> np.ndarray:
        """|ell| (inverse radians) of every FFT mode of the padded grid."""
        return ell_grid(self.padded_shape, self.pixel_arcmin)


# ----------------------------------------------------------------------------------------------------
# Signal power spectrum
# ----------------------------------------------------------------------------------------------------
#: The Wiener prior's C_ell table (physics.cosmology.kappa_cl_interpolator): wide, power law above it.
_ELL_TABLE = {"ell_range": (2.0, 1.0e6), "n_ell": 600, "above": "power_law"}


def _prior_cl(**source) -> Callable[[np.ndarray], np.ndarray]:
    from miu2net.physics.cosmology import kappa_cl_interpolator  # pyccl: imported when a prior is needed

    try:
        return kappa_cl_interpolator(**source, **_ELL_TABLE)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def signal_power(
    *,
    cl_kappa: Callable[[np.ndarray], np.ndarray] | None,
    z_source: float | None,
    nz: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    """The prior C_ell(ell) from exactly one of ``cl_kappa``, ``nz`` or ``z_source`` (default z_s = 1.0)."""
    given = [name for name, value in (("cl_kappa", cl_kappa), ("nz", nz), ("z_source", z_source)) if value is not None]
    if len(given) > 1:
        raise InputError(
            f"give only one of cl_kappa, nz and z_source for the signal prior; got {', '.join(given)}"
        )
    if cl_kappa is not None:
        if not callable(cl_kappa):
            raise InputError("cl_kappa must be a function ell -> C_ell (ell in inverse radians)")
        return cl_kappa, "user cl_kappa"
    if nz is not None:
        try:
            z, n = (np.asarray(a, dtype=np.float64) for a in nz)
        except (TypeError, ValueError):
            raise InputError("nz must be a pair of arrays (z, n(z))") from None
        if z.ndim != 1 or z.shape != n.shape or z.size < 2 or np.any(n < 0) or not np.any(n > 0):
            raise InputError("nz must be (z, n(z)): two 1-D arrays of equal length, n >= 0 and not all 0")
        return _prior_cl(nz=(z, n)), f"pyccl Planck18 n(z) ({z.size} points)"
    z_s = DEFAULT_Z_SOURCE if z_source is None else check_positive("z_source", z_source)
    return _prior_cl(z_source=z_s), f"pyccl Planck18 z_source={z_s:g}"


# ---------------------------------------------------------------------------------------------------
# The solver
# ---------------------------------------------------------------------------------------------------
BACKENDS = ("numpy", "torch")


class _Numpy:
    """Array operations of the solver on numpy/scipy (pocketfft, ``workers`` threads)."""

    name = "numpy"

    def __init__(self, workers: int | None) -> None:
        self.workers = workers

    def asarray(self, a, dtype):
        return np.asarray(a, dtype=dtype)

    def to_numpy(self, a) -> np.ndarray:
        return np.asarray(a)

    def rfft2(self, a):
        return sfft.rfft2(a, workers=self.workers)

    def irfft2(self, a, shape):
        # two 1-D passes, the complex one in place: ~25 % faster than scipy's irfft2 on large grids
        a = sfft.ifft(a, axis=-2, workers=self.workers, overwrite_x=True)
        return sfft.irfft(a, n=shape[-1], axis=-1, workers=self.workers)

    def stack(self, arrays, axis):
        return np.stack(arrays, axis=axis)

    def zeros_like(self, a):
        return np.zeros_like(a)

    def empty(self, shape, dtype):
        return np.empty(shape, dtype=dtype)

    def mul(self, a, b, out):
        return np.multiply(a, b, out=out)

    def dot(self, a, b, edge_columns: tuple[int, ...]) -> np.ndarray:
        """Re<a_i, b_i> per right-hand side i over the full plane, from half-plane spectra ``[m, ...]``
        (every column twice, less the self-conjugate ``edge_columns`` once); BLAS sums."""
        out = np.empty(a.shape[0])
        for i in range(a.shape[0]):
            total = 2.0 * float(np.vdot(a[i], b[i]).real)
            for col in edge_columns:
                total -= float(np.vdot(a[i][..., col], b[i][..., col]).real)
            out[i] = total
        return out


class _Torch:
    """The same operations on torch tensors (CUDA when ``device`` is a GPU)."""

    name = "torch"

    def __init__(self, device: str | None) -> None:
        import torch

        self.torch = torch
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            self.device = torch.device(device)
            torch.zeros(1, device=self.device)
        except (RuntimeError, AssertionError) as err:
            raise InputError(f"option device={device!r} is not a usable torch device: {err}") from None

    def asarray(self, a, dtype):
        torch = self.torch
        tdtype = {np.float32: torch.float32, np.float64: torch.float64,
                  np.complex64: torch.complex64, np.complex128: torch.complex128}[np.dtype(dtype).type]
        if isinstance(a, torch.Tensor):
            return a.to(device=self.device, dtype=tdtype)
        return torch.as_tensor(np.ascontiguousarray(a), device=self.device).to(tdtype)

    def to_numpy(self, a) -> np.ndarray:
        return a.detach().cpu().numpy()

    def rfft2(self, a):
        return self.torch.fft.rfft2(a)

    def irfft2(self, a, shape):
        return self.torch.fft.irfft2(a, s=shape)

    def stack(self, arrays, axis):
        return self.torch.stack(arrays, dim=axis)

    def zeros_like(self, a):
        return self.torch.zeros_like(a)

    def empty(self, shape, dtype):
        return self.torch.empty(shape, dtype=self.asarray(np.zeros(1, dtype), dtype).dtype, device=self.device)

    def mul(self, a, b, out):
        return self.torch.mul(a, b, out=out)

    def dot(self, a, b, edge_columns: tuple[int, ...]) -> np.ndarray:
        prod = a.real * b.real + a.imag * b.imag
        total = 2.0 * prod.sum(dim=(1, 2, 3), dtype=self.torch.float64)
        for col in edge_columns:
            total = total - prod[..., col].sum(dim=(1, 2), dtype=self.torch.float64)
        return total.cpu().numpy()


def _half_plane_kernels(ny: int, nx: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""KS93 on the real-FFT half plane: :math:`\hat\gamma_1 = K_1\hat\kappa_E`, :math:`\hat\gamma_2 = K_2\hat\kappa_E`.

    With :math:`\hat D` of :class:`LensingGrid` (frequencies from ``fftfreq``, so -1/2 on the Nyquist
    lines) split into its parts even and odd under :math:`\ell \to -\ell`, :math:`\hat D = E + O`,
    :math:`K_1 = {\rm Re}E + i\,{\rm Im}O` and :math:`K_2 = {\rm Im}E - i\,{\rm Re}O`: the real and
    imaginary parts of :math:`\mathcal F^{-1}\hat D\hat\kappa` for a real :math:`\kappa`, exactly as the
    complex-FFT operator (O is non-zero only on the Nyquist lines of even sides). Also returns
    :math:`|\ell|^2` in cycles per pixel squared.
    """
    fy, fx = sfft.fftfreq(ny), sfft.fftfreq(nx)
    ky = np.arange(ny)[:, None]
    kx = np.arange(nx // 2 + 1)[None, :]

    def kernel(l2: np.ndarray, l1: np.ndarray) -> np.ndarray:
        l_sq = l1**2 + l2**2
        with np.errstate(invalid="ignore", divide="ignore"):
            d = np.where(l_sq > 0, (l1**2 - l2**2 + 2j * l1 * l2) / np.where(l_sq > 0, l_sq, 1.0), 0.0)
        return d

    here = kernel(fy[ky], fx[kx])
    partner = kernel(fy[(-ky) % ny], fx[(-kx) % nx])
    even, odd = 0.5 * (here + partner), 0.5 * (here - partner)
    return even.real + 1j * odd.imag, even.imag - 1j * odd.real, fy[ky] ** 2 + fx[kx] ** 2


def _backend(backend: str, device: str | None, workers: int | None):
    check_choice("backend", backend, BACKENDS)
    if backend == "numpy":
        if device not in (None, "cpu"):
            raise InputError(f"option device={device!r} needs backend='torch'; the numpy backend runs on the CPU")
        return _Numpy(workers)
    try:
        import torch  # noqa: F401
    except ImportError:
        raise InputError("backend='torch' needs PyTorch installed (pip install torch)") from None
    return _Torch(device)


@dataclass(frozen=True)
class WienerResult:
    """A solve: ``kappa`` (complex E + iB on the padded grid), the whitened state ``y`` and CG diagnostics.

    ``y`` is the solver's own representation (the real FFT of the whitened field, on the solver's
    backend); pass it back as ``y0`` to warm-start a later solve with the same solver.
    """

    kappa: np.ndarray
    y: object
    n_iter: int
    residual: float
    converged: bool


class WienerSolver:
    r"""Preconditioned conjugate-gradient Wiener filter on a :class:`LensingGrid` (maths: module docstring).

    The unknown is the real FFT :math:`\hat y` (``rfft2``, half plane) of the whitened field
    :math:`y = S^{-1/2}\kappa` of each of E (and B when ``b_mode_prior > 0``). With :math:`c, s` the real
    and imaginary parts of :math:`\hat D`, the operator is, per iteration, two inverse and two forward
    real FFTs of the padded grid:

    .. math:: \hat\gamma_1 = c\,\hat\kappa_E - s\,\hat\kappa_B,\quad \hat\gamma_2 = s\,\hat\kappa_E + c\,\hat\kappa_B,
              \qquad \hat u_E = c\,\widehat{W\gamma_1} + s\,\widehat{W\gamma_2},\quad
              \hat u_B = -s\,\widehat{W\gamma_1} + c\,\widehat{W\gamma_2} .

    Preconditioner: the Fourier-diagonal :math:`M^{-1} = (1 + \bar w S)^{-1}` with :math:`\bar w` the
    mean inverse noise variance over the padded grid, the exact inverse for a complete field of uniform
    noise. It removes the growth of the condition number with the largest signal-to-noise ratio per mode
    (which grows as the map grows and reaches lower ℓ), so the iteration count stays nearly flat with the
    map's size. Stop when :math:`\sqrt{\langle r, M^{-1}r\rangle / \langle b, M^{-1}b\rangle} <` ``tol``,
    per right-hand side; several right-hand sides (E and the rotated null test) are solved together.

    Args:
        grid: the padded grid and its KS93 operator.
        weights: inverse noise variance per pixel of the padded grid (0 = no data).
        cl_of_ell: prior :math:`C_\ell` of :math:`\kappa_E` (ell in inverse radians, per steradian).
        b_mode_prior: ratio :math:`r_B` of the B-mode to the E-mode prior power (0 = no B modes).
        single_precision: run the FFTs and vectors in float32/complex64 (about twice as fast; suits
            relative tolerances down to about 1e-5; the CG inner products are then BLAS sums in
            float32, whose relative error, far below ``tol``, only perturbs the step sizes).
        backend: ``"numpy"`` (scipy.fft) or ``"torch"`` (torch.fft, on ``device``).
        device: torch device (``"cpu"``, ``"cuda"``, ``"cuda:1"``); None: CUDA when available, else CPU.
        workers: threads of scipy.fft (numpy backend; None: one).
    """

    def __init__(
        self,
        grid: LensingGrid,
        weights: np.ndarray,
        cl_of_ell: Callable[[np.ndarray], np.ndarray],
        *,
        b_mode_prior: float = 1.0,
        single_precision: bool = False,
        backend: str = "numpy",
        device: str | None = None,
        workers: int | None = None,
    ) -> None:
        self.grid = grid
        self.xp = _backend(backend, device, workers)
        self.real_dtype = np.float32 if single_precision else np.float64
        self.complex_dtype = np.complex64 if single_precision else np.complex128
        self.b_scale = math.sqrt(check_positive("b_mode_prior", b_mode_prior, allow_zero=True))
        self.n_comp = 2 if self.b_scale > 0 else 1
        ny, nx = grid.padded_shape
        pixel_rad = grid.pixel_arcmin * ARCMIN_TO_RAD
        kernel_1, kernel_2, l_sq = _half_plane_kernels(ny, nx)
        l_sq = l_sq * (2 * np.pi / pixel_rad) ** 2
        nonzero = l_sq > 0
        cl = np.zeros(l_sq.shape)
        try:
            cl[nonzero] = np.asarray(cl_of_ell(np.sqrt(l_sq[nonzero])), dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise InputError(f"the signal power spectrum could not be evaluated on the map's ell grid: {err}") from None
        if not np.all(np.isfinite(cl)) or np.any(cl < 0):
            raise InputError("the signal power spectrum C_ell must be finite and >= 0 at every ell of the map")
        power = cl / pixel_rad**2  # S per DFT mode (module docstring)
        weights = np.asarray(weights, dtype=np.float64)
        self.mean_weight = float(weights.mean())
        self.edge_columns = (0, nx // 2) if nx % 2 == 0 else (0,)  # self-conjugate columns of the half plane
        xp, rd = self.xp, self.real_dtype
        self.weights = xp.asarray(weights, rd)
        sqrt_power = np.sqrt(power)
        self.sqrt_power = xp.asarray(sqrt_power, rd)
        # the KS93 kernel's real and imaginary parts times S^{1/2} (and r_B^{1/2} for B)
        cd = self.complex_dtype
        self.k1, self.k2 = xp.asarray(kernel_1 * sqrt_power, cd), xp.asarray(kernel_2 * sqrt_power, cd)
        self.k1_conj, self.k2_conj = xp.asarray(np.conj(kernel_1) * sqrt_power, cd), xp.asarray(np.conj(kernel_2) * sqrt_power, cd)
        if self.n_comp == 2:  # the B-mode kernels exist only when B has a prior
            self.k1_b, self.k2_b = self.b_scale * self.k1, self.b_scale * self.k2
            self.k1_b_conj, self.k2_b_conj = self.b_scale * self.k1_conj, self.b_scale * self.k2_conj
        precond = [1.0 / (1.0 + self.mean_weight * power)]
        if self.n_comp == 2:
            precond.append(1.0 / (1.0 + self.mean_weight * self.b_scale**2 * power))
        self.precond = xp.asarray(np.stack(precond)[None], rd)  # [1, comp, ny, nx//2+1]

    # -- operators on states [m, comp, ny, nx//2+1] ------------------------------------------------
    def _shear_of(self, y):
        """Pixel-space shear ``[m, 2, ny, nx]`` (gamma1, gamma2) of whitened states ``y``."""
        xp = self.xp
        spec = xp.empty((y.shape[0], 2) + tuple(y.shape[2:]), self.complex_dtype)
        xp.mul(self.k1, y[:, 0], out=spec[:, 0])
        xp.mul(self.k2, y[:, 0], out=spec[:, 1])
        if self.n_comp == 2:
            spec[:, 0] -= self.k2_b * y[:, 1]
            spec[:, 1] += self.k1_b * y[:, 1]
        return xp.irfft2(spec, self.grid.padded_shape)

    def _back(self, shear):
        r""":math:`S^{1/2}A^\dagger` of pixel-space shear ``[m, 2, ny, nx]`` (already noise-weighted)."""
        spec = self.xp.rfft2(shear)
        u_b = None
        if self.n_comp == 2:
            u_b = self.k1_b_conj * spec[:, 1] - self.k2_b_conj * spec[:, 0]
        spec[:, 0] *= self.k1_conj
        spec[:, 1] *= self.k2_conj
        spec[:, 0] += spec[:, 1]
        if u_b is None:
            return spec[:, :1]
        spec[:, 1] = u_b
        return spec

    def _hessian(self, y):
        shear = self._shear_of(y)
        shear *= self.weights
        out = self._back(shear)
        out += y
        return out

    def _dot(self, a, b) -> np.ndarray:
        """Real inner products Re<a, b> of the full-plane fields, one per right-hand side (Parseval on
        the half plane: columns 1..(nx-1)//2 stand for two modes each, +-l1)."""
        return self.xp.dot(a, b, self.edge_columns)

    def kappa_of(self, y) -> np.ndarray:
        """The convergence :math:`S^{1/2} y` (complex E + iB, padded grid, numpy, the solver's precision)
        of whitened states."""
        parts = [self.sqrt_power * y[:, 0]]
        if self.n_comp == 2:
            parts.append((self.b_scale * self.sqrt_power) * y[:, 1])
        k = self.xp.to_numpy(self.xp.irfft2(self.xp.stack(parts, 1), self.grid.padded_shape))
        out = np.empty((k.shape[0],) + k.shape[2:], dtype=self.complex_dtype)
        out.real = k[:, 0]
        out.imag = k[:, 1] if self.n_comp == 2 else 0.0
        return out

    # -- the conjugate-gradient solve ----------------------------------------------------------------
    def solve_many(self, data: np.ndarray, *, tol: float, max_iter: int, y0=None) -> list[WienerResult]:
        """Wiener-filter the complex shears ``data`` ``[m, ny, nx]`` (padded grid) in one batched CG; or
        real ``[m, 2, ny, nx]`` stacks of (gamma1, gamma2)."""
        data = np.asarray(data)
        m = data.shape[0]
        xp = self.xp
        if np.iscomplexobj(data):
            pixels = np.empty((m, 2) + data.shape[1:], dtype=self.real_dtype)
            pixels[:, 0], pixels[:, 1] = data.real, data.imag
        else:
            pixels = data
        pixels = xp.asarray(pixels, self.real_dtype)
        b = self._back(self.weights * pixels)
        b_norm = self._dot(b, self.precond * b)
        if y0 is None:
            y = xp.zeros_like(b)
            r = b * 1
        else:
            y = xp.asarray(y0, self.complex_dtype) * 1
            r = b - self._hessian(y)
        z = self.precond * r
        rz = self._dot(r, z)
        p = z * 1
        safe_norm = np.where(b_norm > 0, b_norm, 1.0)
        residual = np.sqrt(np.maximum(rz, 0) / safe_norm)
        residual[b_norm == 0] = 0.0
        n_iter = np.zeros(m, dtype=int)
        active = residual > tol
        while active.any() and n_iter.max() < max_iter:
            hp = self._hessian(p)
            php = self._dot(p, hp)
            alpha = np.where(active, rz / np.where(php > 0, php, 1.0), 0.0)
            a = xp.asarray(alpha.reshape(m, 1, 1, 1), self.real_dtype)
            y += a * p
            hp *= a
            r -= hp
            z = self.precond * r
            rz_new = self._dot(r, z)
            beta = np.where(active, rz_new / np.where(rz > 0, rz, 1.0), 0.0)
            p *= xp.asarray(beta.reshape(m, 1, 1, 1), self.real_dtype)
            p += z
            rz = np.where(active, rz_new, rz)
            n_iter += active
            residual = np.where(active, np.sqrt(np.maximum(rz, 0) / safe_norm), residual)
            active = residual > tol
        kappa = self.kappa_of(y)
        return [
            WienerResult(kappa[i], y[i : i + 1], int(n_iter[i]), float(residual[i]), bool(residual[i] <= tol))
            for i in range(m)
        ]

    def solve(self, data: np.ndarray, *, tol: float, max_iter: int, y0=None) -> WienerResult:
        """Wiener-filter the complex shear ``data`` (padded grid), starting from the state ``y0`` (default 0)."""
        return self.solve_many(np.asarray(data)[None], tol=tol, max_iter=max_iter, y0=y0)[0]


def wiener_kappa(
    g1: np.ndarray,
    g2: np.ndarray,
    mask: np.ndarray,
    noise: np.ndarray,
    *,
    pixel_arcmin: float,
    cl_of_ell: Callable[[np.ndarray], np.ndarray] | None = None,
    z_source: float = DEFAULT_Z_SOURCE,
    pad_pixels: int | None = None,
    tol: float = 1e-4,
    max_iter: int = 500,
) -> np.ndarray:
    r"""The E-mode Wiener map :math:`\kappa_{\rm WF}` (float64, the map's shape) of one gridded shear map.

    The same posterior mean as the ``wiener`` method's ``KAPPA_E`` with its defaults (no B-mode prior, the
    map padded by :data:`DEFAULT_PAD_ARCMIN` of unobserved sky, float32 FFTs, ``tol`` 1e-4), without the
    B-mode null test: one right-hand side, about half that method's cost.

    Args:
        g1, g2: shear components on the map axes (``[y, x]``; the reduced shear is taken as the shear).
        mask: 1 observed, 0 masked (masked pixels carry no information whatever ``g`` and ``noise`` hold).
        noise: per-pixel standard deviation of each shear component; pixels whose ``noise`` is not finite
            and > 0 count as masked.
        pixel_arcmin: pixel side in arcmin.
        cl_of_ell: prior :math:`C_\ell` (ell in inverse radians); None: pyccl's Planck 2018 non-linear
            spectrum for sources at ``z_source``.
        pad_pixels: unobserved margin per side (None: 26′ in pixels).
    """
    tol = check_positive("tol", tol)
    max_iter = check_count("max_iter", max_iter)
    pixel_arcmin = check_positive("pixel_arcmin", pixel_arcmin)
    g1 = np.asarray(g1, dtype=np.float64)
    mask = np.asarray(mask) > 0
    sigma = np.asarray(noise, dtype=np.float64)
    if g1.ndim != 2 or not (g1.shape == np.shape(g2) == mask.shape == sigma.shape):
        raise InputError(f"g1, g2, mask and noise must be 2-D maps of one shape; got {g1.shape}, {np.shape(g2)}, "
                         f"{mask.shape}, {sigma.shape}")
    observed = mask & np.isfinite(sigma) & (sigma > 0)
    if cl_of_ell is None:
        cl_of_ell, _ = signal_power(cl_kappa=None, z_source=z_source, nz=None)
    grid = LensingGrid.build(g1.shape, pixel_arcmin, pad=True, margin=margin_pixels(pad_pixels, pixel_arcmin))
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = np.where(observed, 1.0 / np.where(observed, sigma, 1.0) ** 2, 0.0)
    solver = WienerSolver(grid, grid.embed(weights), cl_of_ell, b_mode_prior=0.0, single_precision=True)
    data = np.stack([np.where(observed, np.nan_to_num(g1), 0.0),
                     np.where(observed, np.nan_to_num(np.asarray(g2, dtype=np.float64)), 0.0)])
    result = solver.solve_many(grid.embed(data.astype(np.float32))[None], tol=tol, max_iter=max_iter)[0]
    return grid.crop(result.kappa.real).astype(np.float64)
