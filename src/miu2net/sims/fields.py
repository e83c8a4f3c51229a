r"""Random convergence fields with a given angular power spectrum.

A Gaussian field is drawn in Fourier space on a box ``box_factor`` times larger than the map (same
pixel) and the map is cut from its centre, so the map is not periodic and its shear carries the
large-scale modes beyond the field, as on the sky. Normalisation as :mod:`miu2net.stats.spectra`:
:math:`\langle |\hat\kappa(\ell)|^2 \rangle = A\, C_\ell` with :math:`A` the box area.

A shifted lognormal field (:func:`lognormal_field`) has the same power spectrum and a skewed one-point
distribution bounded below by :math:`-\lambda`; its Gaussian core's spectrum is found by transforming the
correlation function on the box (Hilbert, Hartlap & Schneider 2011; Xavier et al. 2016).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from miu2net.physics.fourier import ell_grid
from miu2net.physics.units import ARCMIN_TO_RAD


def gaussian_field(
    shape: tuple[int, int],
    pixel_arcmin: float,
    cl_of_ell: Callable[[np.ndarray], np.ndarray],
    rng: np.random.Generator,
    *,
    box_factor: int = 1,
) -> np.ndarray:
    """A zero-mean Gaussian random field ``[y, x]`` of power spectrum ``cl_of_ell`` (ell in inverse radians).

    Args:
        shape: map shape ``(ny, nx)``.
        pixel_arcmin: pixel side in arcmin.
        cl_of_ell: vectorised function ell -> C_ell (per steradian); it is never called at ell = 0.
        rng: NumPy random generator (the only source of randomness).
        box_factor: draw on a box this many times larger per side and cut the central map
            (1 gives a periodic map whose estimated spectrum is exactly unbiased).
    """
    box = (shape[0] * box_factor, shape[1] * box_factor)
    d = pixel_arcmin * ARCMIN_TO_RAD
    ell = ell_grid(box, pixel_arcmin)
    cl = np.zeros_like(ell)
    cl[ell > 0] = cl_of_ell(ell[ell > 0])
    if np.any(cl < 0) or not np.all(np.isfinite(cl)):
        raise ValueError("the power spectrum must be finite and non-negative")
    n_pix = box[0] * box[1]
    area = n_pix * d**2
    white = np.fft.fft2(rng.standard_normal(box))
    field = np.fft.ifft2(white * np.sqrt(cl * area / n_pix) / d**2).real
    y0 = (box[0] - shape[0]) // 2
    x0 = (box[1] - shape[1]) // 2
    return field[y0 : y0 + shape[0], x0 : x0 + shape[1]]


# ---- drawing on a periodic box with a precomputed spectrum, and lognormal fields -------------------
#
# The discrete conventions of :func:`gaussian_field`: on a periodic box of ``n`` pixels of side ``d``
# (radians), a field with per-mode power ``C`` (sampled on the FFT grid) has the covariance
# :math:`\xi = \mathrm{ifft2}(C)/d^2` between pixels, and conversely :math:`C = d^2\,\mathrm{fft2}(\xi)`.


def cl_on_grid(shape: tuple[int, int], pixel_arcmin: float, cl_of_ell: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``cl_of_ell`` sampled on the FFT grid of a map of ``shape`` (0 at ell = 0), checked finite and >= 0."""
    ell = ell_grid(shape, pixel_arcmin)
    cl = np.zeros_like(ell)
    cl[ell > 0] = cl_of_ell(ell[ell > 0])
    if np.any(cl < 0) or not np.all(np.isfinite(cl)):
        raise ValueError("the power spectrum must be finite and non-negative")
    return cl


def draw_periodic(amplitude: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    r"""A periodic Gaussian field on the box: ``ifft2(fft2(white) * amplitude)``.

    ``amplitude`` is :math:`\sqrt{C}/d` on the box's FFT grid (:func:`cl_on_grid`, ``d`` the pixel side
    in radians). The random numbers are drawn exactly as in :func:`gaussian_field`, so for the same
    generator state the two give the same field.
    """
    white = np.fft.fft2(rng.standard_normal(amplitude.shape))
    return np.fft.ifft2(white * amplitude).real


def cut_center(field: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The central ``shape`` of a larger map (the same cut as :func:`gaussian_field`)."""
    y0 = (field.shape[0] - shape[0]) // 2
    x0 = (field.shape[1] - shape[1]) // 2
    return field[y0 : y0 + shape[0], x0 : x0 + shape[1]]


def lognormal_gaussian_cl(cl: np.ndarray, pixel_arcmin: float, shift: float) -> tuple[np.ndarray, float, float]:
    r"""Power of the Gaussian field behind a shifted lognormal field with target power ``cl``.

    For :math:`\kappa = \lambda[\exp(G - \sigma_G^2/2) - 1]` the correlation functions obey
    :math:`\xi_\kappa = \lambda^2[\exp(\xi_G) - 1]` (Hilbert, Hartlap & Schneider 2011; Xavier et al.
    2016), so :math:`\xi_G = \ln(1 + \xi_\kappa/\lambda^2)`. This is applied on the periodic box's own
    grid (exact for the discrete periodic field); negative powers of :math:`G` that the transform may
    produce are set to zero.

    Args:
        cl: target :math:`C_\ell` on the box's FFT grid (:func:`cl_on_grid`).
        pixel_arcmin: pixel side in arcmin.
        shift: :math:`\lambda > 0`, the lowest value the convergence can take is :math:`-\lambda`.

    Returns:
        ``(cl_g, sigma_g2, clipped)``: :math:`C^G` on the grid, the variance :math:`\sigma_G^2` of the
        field drawn from it, and the fraction of the Gaussian field's variance removed by clipping.
    """
    if shift <= 0:
        raise ValueError(f"the lognormal shift must be > 0; got {shift}")
    d = pixel_arcmin * ARCMIN_TO_RAD
    xi = np.fft.ifft2(cl).real / d**2
    arg = 1.0 + xi / shift**2
    if np.any(arg <= 0):
        raise ValueError(
            f"lognormal shift {shift} is too small for this power spectrum (correlation {xi.min():.3g} "
            f"< -shift^2); increase it"
        )
    cl_g = d**2 * np.fft.fft2(np.log(arg)).real
    total = np.abs(cl_g).sum()
    negative = cl_g < 0
    clipped = float(-cl_g[negative].sum() / total) if total > 0 else 0.0
    cl_g[negative] = 0.0
    sigma_g2 = float(cl_g.sum() / (cl.size * d**2))
    return cl_g, sigma_g2, clipped


def lognormal_transform(gauss: np.ndarray, shift: float, sigma_g2: float) -> np.ndarray:
    r""":math:`\kappa = \lambda[\exp(G - \sigma_G^2/2) - 1]`: zero mean, :math:`\kappa \ge -\lambda`."""
    return shift * np.expm1(gauss - 0.5 * sigma_g2)


def lognormal_field(
    shape: tuple[int, int],
    pixel_arcmin: float,
    cl_of_ell: Callable[[np.ndarray], np.ndarray],
    rng: np.random.Generator,
    *,
    shift: float,
    box_factor: int = 1,
) -> np.ndarray:
    r"""A zero-mean shifted lognormal field ``[y, x]`` with power spectrum ``cl_of_ell``.

    The field :math:`\kappa = \lambda[\exp(G - \sigma_G^2/2) - 1]` has the target :math:`C_\ell` on the
    periodic box (up to the clipping of negative Gaussian power, see :func:`lognormal_gaussian_cl`),
    one-point distribution bounded below by :math:`-\lambda` and positive skewness. It is drawn on a box
    ``box_factor`` times larger per side and the central map is cut, as in :func:`gaussian_field`.

    Args:
        shape: map shape ``(ny, nx)``; pixel_arcmin: pixel side in arcmin.
        cl_of_ell: ell (inverse radians) -> C_ell, never called at ell = 0.
        rng: NumPy random generator.
        shift: :math:`\lambda`, e.g. :func:`empty_beam_kappa` in absolute value.
        box_factor: size of the drawing box in map sizes per side.
    """
    box = (shape[0] * box_factor, shape[1] * box_factor)
    cl = cl_on_grid(box, pixel_arcmin, cl_of_ell)
    cl_g, sigma_g2, _ = lognormal_gaussian_cl(cl, pixel_arcmin, shift)
    gauss = draw_periodic(np.sqrt(cl_g) / (pixel_arcmin * ARCMIN_TO_RAD), rng)
    return cut_center(lognormal_transform(gauss, shift, sigma_g2), shape)


def empty_beam_kappa(*, z_source: float | None = 1.0, nz: tuple[np.ndarray, np.ndarray] | None = None,
                     cosmo=None, n_chi: int = 512) -> float:
    r"""Convergence of an empty line of sight, :math:`\kappa_{\rm empty} = -\int_0^{\chi_s} W(\chi)\,d\chi < 0`.

    :math:`W = \frac32\Omega_m (H_0/c)^2 \chi(1-\chi/\chi_s)/a` is the lensing kernel of
    :func:`miu2net.physics.cosmology.kappa_cl`; with an n(z) the value is averaged over the sources. Its
    absolute value is the natural lognormal shift (the convergence cannot go below it).
    """
    import pyccl as ccl

    from miu2net.physics.cosmology import planck18

    cosmo = planck18() if cosmo is None else cosmo
    omega_m = cosmo["Omega_c"] + cosmo["Omega_b"]
    h0_over_c = cosmo["h"] / ccl.physical_constants.CLIGHT_HMPC

    def single(zs: float) -> float:
        chi_s = ccl.comoving_radial_distance(cosmo, 1.0 / (1.0 + zs))
        chi = np.linspace(0.0, chi_s, n_chi)
        a = ccl.scale_factor_of_chi(cosmo, chi)
        w = 1.5 * omega_m * h0_over_c**2 * chi * (1.0 - chi / chi_s) / a
        return -float(np.trapezoid(w, chi))

    if nz is None:
        if z_source is None or z_source <= 0:
            raise ValueError("give a positive z_source or an n(z) as nz=(z, n)")
        return single(float(z_source))
    z, n = (np.asarray(v, dtype=np.float64) for v in nz)
    keep = z > 0
    values = np.array([single(zs) for zs in z[keep]])
    return float(np.trapezoid(n[keep] * values, z[keep]) / np.trapezoid(n[keep], z[keep]))
