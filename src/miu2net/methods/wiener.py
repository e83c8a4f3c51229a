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
per mode) solved by conjugate gradients with the real inner product :math:`{\rm Re}\,\langle u, v\rangle`
on complex maps, stopped when :math:`\|r\|/\|b\| <` ``tol`` or after ``max_iter`` iterations. Every
operator is diagonal either in pixel space (:math:`N^{-1}`, the mask) or in Fourier space (:math:`S`,
:math:`A`), so one iteration costs four FFTs. In this normalisation the discrete Fourier transform of a
real field has :math:`\langle|{\rm fft2}\,\kappa|^2\rangle = N_{\rm pix} C_\ell/\Delta^2` (:math:`\Delta`
the pixel side in radians), i.e. :math:`S = \mathcal F^{-1}{\rm diag}(C_\ell/\Delta^2)\mathcal F`, the
normalisation of :mod:`miu2net.stats.spectra`. The :math:`\ell = 0` mode (mass sheet) has zero prior
power and is zero in the result (the mean over the padded grid). Jeffrey et al. solve the same system
with a messenger field; conjugate gradients reach a relative residual of 1e-5 in about 25 iterations on
csst maps (256², 0.41′, n_gal = 50 arcmin⁻²), more for deeper data.

Finite field. With ``pad=True`` the map is placed at the centre of a periodic grid twice its size whose
extra pixels are unobserved (:math:`N^{-1}=0`): the map is treated as a cut of a larger sky, and the
prior fills the surroundings, so no periodic wrap-around couples opposite edges.

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
    def build(cls, shape: tuple[int, int], pixel_arcmin: float, *, pad: bool) -> LensingGrid:
        """Twice the map size per side when ``pad`` (the map centred, a margin of half a map around it)."""
        ny, nx = shape
        padded = (2 * ny, 2 * nx) if pad else (ny, nx)
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


# ----------------------------------------------------------------------------------------------------
# The solver
# ----------------------------------------------------------------------------------------------------
def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """Real inner product Re<a, b> of complex maps, summed pairwise in the arrays' precision."""
    return float(np.sum(a.real * b.real + a.imag * b.imag, dtype=np.float64))


@dataclass(frozen=True)
class WienerResult:
    """A solve: ``kappa`` (complex E + iB on the padded grid), the whitened solution ``y`` and CG diagnostics."""

    kappa: np.ndarray
    y: np.ndarray
    n_iter: int
    residual: float
    converged: bool


class WienerSolver:
    r"""Conjugate-gradient Wiener filter on a :class:`LensingGrid` (see the module docstring for the maths).

    Args:
        grid: the padded grid and its KS93 operator.
        weights: inverse noise variance per pixel of the padded grid (0 = no data).
        cl_of_ell: prior :math:`C_\ell` of :math:`\kappa_E` (ell in inverse radians, per steradian).
        b_mode_prior: ratio :math:`r_B` of the B-mode to the E-mode prior power (0 = no B modes).
        single_precision: run the FFTs and vectors in complex64 (about twice as fast; suits relative
            tolerances down to about 1e-5, inner products are still summed pairwise).
    """

    def __init__(
        self,
        grid: LensingGrid,
        weights: np.ndarray,
        cl_of_ell: Callable[[np.ndarray], np.ndarray],
        *,
        b_mode_prior: float = 1.0,
        single_precision: bool = False,
    ) -> None:
        self.grid = grid
        self.complex_dtype = np.complex64 if single_precision else np.complex128
        real_dtype = np.float32 if single_precision else np.float64
        self.weights = np.asarray(weights, dtype=real_dtype)
        ell = grid.ell()
        nonzero = ell > 0
        cl = np.zeros_like(ell)
        try:
            cl[nonzero] = np.asarray(cl_of_ell(ell[nonzero]), dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise InputError(f"the signal power spectrum could not be evaluated on the map's ell grid: {err}") from None
        if not np.all(np.isfinite(cl)) or np.any(cl < 0):
            raise InputError("the signal power spectrum C_ell must be finite and >= 0 at every ell of the map")
        pixel_rad = grid.pixel_arcmin * ARCMIN_TO_RAD
        sqrt_power = np.sqrt(cl / pixel_rad**2)  # S^{1/2} in Fourier space (per DFT mode)
        self.sqrt_power = sqrt_power.astype(real_dtype)
        self.kernel = (grid.kernel * sqrt_power).astype(self.complex_dtype)  # A S^{1/2}
        self.b_scale = math.sqrt(check_positive("b_mode_prior", b_mode_prior, allow_zero=True))

    def _scale_b(self, y: np.ndarray) -> np.ndarray:
        return y if self.b_scale == 1.0 else y.real + 1j * self.b_scale * y.imag

    def _forward(self, y: np.ndarray) -> np.ndarray:
        return sfft.ifft2(self.kernel * sfft.fft2(self._scale_b(y)))

    def _adjoint(self, v: np.ndarray) -> np.ndarray:
        return self._scale_b(sfft.ifft2(np.conj(self.kernel) * sfft.fft2(v)))

    def _hessian(self, y: np.ndarray) -> np.ndarray:
        return y + self._adjoint(self.weights * self._forward(y))

    def kappa_of(self, y: np.ndarray) -> np.ndarray:
        """The convergence :math:`S^{1/2} y` (complex E + iB, padded grid) of a whitened vector."""
        return sfft.ifft2(self.sqrt_power * sfft.fft2(self._scale_b(y)))

    def solve(self, data: np.ndarray, *, tol: float, max_iter: int, y0: np.ndarray | None = None) -> WienerResult:
        """Wiener-filter the complex shear ``data`` (padded grid), starting from whitened ``y0`` (default 0)."""
        rhs = self._adjoint(self.weights * np.asarray(data, dtype=self.complex_dtype))
        rhs_norm = math.sqrt(_dot(rhs, rhs))
        if rhs_norm == 0.0:
            zero = np.zeros(self.grid.padded_shape, dtype=self.complex_dtype)
            return WienerResult(zero, zero, 0, 0.0, True)
        y = np.zeros_like(rhs) if y0 is None else y0.astype(self.complex_dtype, copy=True)
        r = rhs - self._hessian(y) if y0 is not None else rhs.copy()
        p = r.copy()
        rr = _dot(r, r)
        residual = math.sqrt(rr) / rhs_norm
        n_iter = 0
        while residual > tol and n_iter < max_iter:
            hp = self._hessian(p)
            alpha = rr / _dot(p, hp)
            y += alpha * p
            r -= alpha * hp
            rr_new = _dot(r, r)
            p = r + (rr_new / rr) * p
            rr = rr_new
            residual = math.sqrt(rr) / rhs_norm
            n_iter += 1
        return WienerResult(self.kappa_of(y), y, n_iter, residual, residual <= tol)


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
    tol: float = 1e-5,
    max_iter: int = 500,
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
            is the Wiener map of the 45-degree-rotated shear (a second solve, twice the cost). A value
            > 0 solves E and B jointly with that B prior; with masks E and B then share the data and
            kappa_E is biased low (by about 5 % in amplitude at 1, csst-small with masks).
        pad: embed the map in an unobserved margin (grid twice the size) so the field is a cut of a
            larger sky; False treats the map as periodic.
        tol: relative residual ||r||/||b|| of the conjugate-gradient solve at which to stop (dimensionless).
        max_iter: iteration cap of the conjugate-gradient solve (a warning is issued if reached).

    Returns:
        KappaMap with the E and B Wiener maps; ``meta`` holds the options, the number of iterations,
        the final residual and whether it converged.
    """
    tol = check_positive("tol", tol)
    max_iter = check_count("max_iter", max_iter)
    cl_of_ell, signal = signal_power(cl_kappa=cl_kappa, z_source=z_source, nz=nz)
    grid = LensingGrid.build(shear.shape, shear.pixel_arcmin, pad=bool(pad))
    weights, noise = inverse_noise_weights(
        shear, grid, shape_noise_sigma=shape_noise_sigma, n_gal_arcmin2=n_gal_arcmin2
    )
    solver = WienerSolver(grid, weights, cl_of_ell, b_mode_prior=b_mode_prior)
    data = shear_data(shear, grid)
    result = solver.solve(data, tol=tol, max_iter=max_iter)
    results = [result]
    kappa = grid.crop(result.kappa)
    if b_mode_prior == 0:
        # The posterior mean of a pure-E field has no B mode; for a null test, kappa_B is the E-mode
        # Wiener map of the shear rotated by 45 degrees (gamma -> i gamma), which carries the data's B
        # modes into E: kappa_E(rotated) = -kappa_B.
        rotated = solver.solve(1j * data, tol=tol, max_iter=max_iter)
        results.append(rotated)
        kappa = kappa.real - 1j * grid.crop(rotated.kappa).real
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
        "tol": tol,
        "max_iter": max_iter,
    }
    return KappaMap(
        kappa_e=np.ascontiguousarray(kappa.real),
        kappa_b=np.ascontiguousarray(kappa.imag),
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
    "max_iter",
))
