r"""Wiener filter: the posterior mean of a Gaussian convergence field given masked, noisy shear.

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
number at 1 + the largest S/N per mode, which grows as a larger map reaches lower ℓ (26, 55 and 78
iterations at 256², 1024² and 4096², 0.82′ pixels, 15 % masked, for ‖r‖/‖b‖ < 1e-4), while with this
preconditioner the count stays nearly flat (16, 19 and 19; ``benchmarks/speed_methods.py``). The
C_ℓ table from pyccl is computed once per source configuration and process (cached); the prior on the
grid is then an interpolation. The cost therefore grows like :math:`N_{\rm pix}\log N_{\rm pix}`.
With ``b_mode_prior = 0`` the B-mode null test is a second right-hand side of the same batched CG.

Finite field. With ``pad=True`` the map is placed at the centre of a periodic grid with an unobserved
margin (:math:`N^{-1}=0`) of ``pad_pixels`` on each side: the map is treated as a cut of a larger sky,
and the prior fills the surroundings, so no periodic wrap-around couples opposite edges. The margin is
a fixed angle (26′ by default), not a fraction of the map (see :func:`reconstruct`).

The grid, the noise weights and the reduced-shear correction defined here (:class:`LensingGrid`,
:func:`inverse_noise_weights`, :func:`shear_from_reduced`) are shared by the iterative methods
(:mod:`.ksplus`, :mod:`.sparse`, :mod:`.mcalens`), and :class:`WienerSolver` is reused by MCALens.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft

from miu2net.errors import InputError
from miu2net.maps import KappaMap, ShearMap
from miu2net.methods.base import Method, options
from miu2net.physics.fourier import ell_grid
from miu2net.physics.operators import ks_kernel
from miu2net.physics.shear import pixel_noise_sigma
from miu2net.physics.units import ARCMIN_TO_RAD

# csst preset (DESIGN.md): sigma_e total, sources per arcmin^2, single source plane.
DEFAULT_SHAPE_NOISE_SIGMA = 0.4
DEFAULT_N_GAL_ARCMIN2 = 50.0
DEFAULT_Z_SOURCE = 1.0
# Tolerances at or above this run in float32 by default (about 7 significant digits).
SINGLE_PRECISION_TOL = 1e-5
# Unobserved margin on each side of the map in the Wiener filter's padded grid (pixels); see reconstruct.
#: The unobserved margin around a padded map, in arcmin (``pad_pixels`` None): 32 pixels at 0.82′. On
#: 100 csst maps (256² of 0.41′) a 13′ margin left the RMSE after 2′ smoothing 1.3 % above a 52′ one,
#: 26′ 0.4 % above it (at 1.4× the time of 13′): the margin must hold the reach of the shear's
#: wrap-around, which is an angle, not a number of pixels.
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
# The padded grid, the operators on it and the noise weights (shared by the iterative methods)
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


def inverse_noise_weights(
    shear: ShearMap, grid: LensingGrid, *, shape_noise_sigma: float, n_gal_arcmin2: float
) -> tuple[np.ndarray, str]:
    r"""Inverse noise variance :math:`1/\sigma^2` per pixel of the padded grid (0 where masked or padded).

    :math:`\sigma` is ``shear.noise`` (std of each shear component) where the map carries one, else the
    mean pixel noise :math:`(\sigma_e/\sqrt2)/\sqrt{n_{\rm gal}A_{\rm pix}}` of
    :func:`miu2net.physics.shear.pixel_noise_sigma` from ``shape_noise_sigma`` (total ellipticity rms)
    and ``n_gal_arcmin2`` (per arcmin²). Returns the weights and a one-line description for ``meta``.
    """
    observed = shear.observed
    sigma_e = check_positive("shape_noise_sigma", shape_noise_sigma)
    n_gal = check_positive("n_gal_arcmin2", n_gal_arcmin2)
    if shear.noise is not None:
        sigma = np.where(observed, shear.noise, np.inf)
        source = "noise map"
    else:
        value = pixel_noise_sigma(shape_noise_sigma=sigma_e, n_gal_arcmin2=n_gal, pixel_arcmin=shear.pixel_arcmin)
        sigma = np.where(observed, value, np.inf)
        source = f"uniform sigma_pix={value:.4g} (shape_noise_sigma={sigma_e:g}, n_gal_arcmin2={n_gal:g})"
    with np.errstate(divide="ignore"):
        weights = np.where(observed, 1.0 / sigma**2, 0.0)
    return grid.embed(weights), source


def shear_data(shear: ShearMap, grid: LensingGrid) -> np.ndarray:
    """The observed complex shear g1 + i g2 on the padded grid (0 on masked and padding pixels)."""
    return grid.embed((shear.g1 + 1j * shear.g2) * shear.mask)


def shear_from_reduced(reduced: np.ndarray, kappa_e: np.ndarray) -> np.ndarray:
    r"""Iterative reduced-shear correction: :math:`\gamma = g\,(1 - \kappa_E)` with the current estimate.

    Since :math:`g = \gamma/(1-\kappa)`, a method that models shear :math:`\gamma` is fed this product
    and re-fed as :math:`\kappa_E` improves (Pires et al. 2020; Lanusse et al. 2016). Valid in the
    weak regime :math:`\kappa < 1`.
    """
    return reduced * (1.0 - kappa_e)


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


def reconstruct(
    shear: ShearMap,
    *,
    cl_kappa: Callable[[np.ndarray], np.ndarray] | None = None,
    z_source: float | None = None,
    nz: tuple[np.ndarray, np.ndarray] | None = None,
    shape_noise_sigma: float = DEFAULT_SHAPE_NOISE_SIGMA,
    n_gal_arcmin2: float = DEFAULT_N_GAL_ARCMIN2,
    b_mode_prior: float = 0.0,
    pad: bool = True,
    tol: float = 1e-4,
    max_iter: int = 500,
    pad_pixels: int | None = None,
    single_precision: bool | None = None,
    backend: str = "numpy",
    device: str | None = None,
) -> KappaMap:
    r"""Wiener-filtered convergence (posterior mean for a Gaussian field) of a gridded shear map.

    The shear is taken as the shear :math:`\gamma` (weak-lensing approximation :math:`g \approx \gamma`).

    Args:
        shear: gridded shear with mask; its ``noise`` map (std per component) is used where present.
        cl_kappa: prior power spectrum, a function ell -> C_ell (ell in inverse radians, C_ell per
            steradian, the normalisation of :mod:`miu2net.stats.spectra`). Give at most one of
            ``cl_kappa``, ``nz``, ``z_source``.
        z_source: source redshift of a single source plane for the pyccl Planck 2018 C_ell
            (dimensionless; default 1.0, the csst preset, when neither ``cl_kappa`` nor ``nz`` is given).
        nz: source redshift distribution ``(z, n(z))`` for the pyccl C_ell instead of a single plane.
        shape_noise_sigma: total intrinsic ellipticity rms sigma_e (dimensionless, default 0.4, i.e.
            0.28 per component); used only when ``shear.noise`` is None.
        n_gal_arcmin2: source density in galaxies per arcmin² (default 50); used only when
            ``shear.noise`` is None.
        b_mode_prior: B-mode prior power as a fraction of the E-mode C_ell (dimensionless). Default 0:
            lensing makes no B modes, so kappa_E is the true posterior mean, and kappa_B (the null test)
            is the Wiener map of the 45-degree-rotated shear (a second right-hand side, solved in the
            same batched CG: twice the FFTs per iteration). A value > 0 solves E and B jointly with that
            B prior; with masks E and B then share the data and kappa_E is biased low (by about 5 % in
            amplitude at 1, csst-small with masks).
        pad: embed the map in an unobserved margin of ``pad_pixels`` on each side, filled by the prior,
            so that the map is a cut of a larger sky and no periodic wrap-around couples opposite edges;
            False treats the map as periodic.
        tol: stop the preconditioned conjugate gradients when
            :math:`\sqrt{\langle r, M^{-1}r\rangle/\langle b, M^{-1}b\rangle}` < ``tol`` for every
            right-hand side (dimensionless; :class:`WienerSolver`). Default 1e-4: the map is then within
            a few 1e-4 (rms, relative to its own rms) of the converged one on csst-like maps.
        max_iter: iteration cap of the conjugate-gradient solve (a warning is issued if reached).
        pad_pixels: width of the unobserved margin on each side in pixels (default None: 26′,
            :data:`DEFAULT_PAD_ARCMIN`, i.e. 32 pixels at 0.82′ and 64 at 0.41′), rounded up so that the
            padded sides have fast FFTs (factors 2, 3, 5). The margin only has to hold the reach of the wrap-around, not a copy of the map: the
            Wiener kernel falls to the noise within a few arcmin (S = N near ℓ ≈ 3000 for the csst
            preset), and the large, high signal-to-noise scales are fixed by the data inside the map.
            A fixed margin keeps the cost growing like the map and, since the margin's own slow modes
            are what the Fourier preconditioner cannot reach, keeps the iteration count flat (a
            margin of half the map, the previous default, took 26 iterations at 256², 0.82′, against 15).
        single_precision: run the FFTs in float32 (about 7 digits; 2-4x faster and half the memory).
            None (default): float32 when ``tol`` >= 1e-5, float64 for tighter tolerances.
        backend: ``"numpy"`` (scipy.fft on the CPU, default) or ``"torch"`` (torch.fft; on a GPU when
            one is present). Both give the same map within ``tol``.
        device: torch device for ``backend="torch"`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``); None: CUDA
            when available, else the CPU.

    Returns:
        KappaMap with the E and B Wiener maps; ``meta`` holds the options, the number of iterations,
        the final residual and whether it converged.
    """
    tol = check_positive("tol", tol)
    max_iter = check_count("max_iter", max_iter)
    pad_pixels = margin_pixels(pad_pixels, shear.pixel_arcmin)
    if single_precision is None:
        single_precision = tol >= SINGLE_PRECISION_TOL
    cl_of_ell, signal = signal_power(cl_kappa=cl_kappa, z_source=z_source, nz=nz)
    grid = LensingGrid.build(shear.shape, shear.pixel_arcmin, pad=bool(pad), margin=pad_pixels)
    weights, noise = inverse_noise_weights(
        shear, grid, shape_noise_sigma=shape_noise_sigma, n_gal_arcmin2=n_gal_arcmin2
    )
    solver = WienerSolver(grid, weights, cl_of_ell, b_mode_prior=b_mode_prior, single_precision=bool(single_precision),
                          backend=backend, device=device)
    g1 = grid.embed((shear.g1 * shear.mask).astype(solver.real_dtype))
    g2 = grid.embed((shear.g2 * shear.mask).astype(solver.real_dtype))
    if b_mode_prior == 0:
        # The posterior mean of a pure-E field has no B mode; for a null test, kappa_B is the E-mode
        # Wiener map of the shear rotated by 45 degrees (gamma -> i gamma = (-gamma2, gamma1)), which
        # carries the data's B modes into E: kappa_E(rotated) = -kappa_B. Both right-hand sides share
        # one batched CG.
        results = solver.solve_many(np.stack([np.stack([g1, g2]), np.stack([-g2, g1])]), tol=tol, max_iter=max_iter)
        kappa_e = grid.crop(results[0].kappa.real).astype(np.float64)
        kappa_b = -grid.crop(results[1].kappa.real).astype(np.float64)
    else:
        results = solver.solve_many(np.stack([g1, g2])[None], tol=tol, max_iter=max_iter)
        kappa_e = grid.crop(results[0].kappa.real).astype(np.float64)
        kappa_b = grid.crop(results[0].kappa.imag).astype(np.float64)
    del g1, g2
    result = max(results, key=lambda res: res.n_iter)
    for res in results:
        if not res.converged:
            warnings.warn(
                f"Wiener filter: conjugate gradient stopped at max_iter={max_iter} with relative residual "
                f"{res.residual:.2e} > tol={tol:g}; raise max_iter or tol",
                RuntimeWarning,
                stacklevel=2,
            )
    options = {
        "signal": signal,
        "noise": noise,
        "b_mode_prior": float(b_mode_prior),
        "pad": bool(pad),
        "pad_pixels": pad_pixels,
        "padded_shape": list(grid.padded_shape),
        "tol": tol,
        "max_iter": max_iter,
        "single_precision": bool(single_precision),
        "backend": backend if backend == "numpy" else f"torch:{solver.xp.device}",
    }
    return KappaMap(
        kappa_e=kappa_e,
        kappa_b=kappa_b,
        pixel_arcmin=shear.pixel_arcmin,
        wcs=shear.wcs,
        meta={
            "method": "wiener",
            "options": options,
            "n_iter": result.n_iter,
            "residual": result.residual,
            "converged": result.converged,
        },
    )


METHOD = Method("wiener", reconstruct, options(
    "cl_kappa", "z_source", "nz", "shape_noise_sigma", "n_gal_arcmin2", "b_mode_prior", "pad", "tol",
    "max_iter", "pad_pixels", "single_precision", "backend", "device",
))
