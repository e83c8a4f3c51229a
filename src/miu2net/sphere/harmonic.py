r"""Spherical Kaiser-Squires: convergence <-> shear by spin-0 and spin-2 spherical harmonic transforms.

Maps are full-sky HEALPix arrays of ``12 nside**2`` values in healpy's RING ordering, celestial
(equatorial) coordinates: pixel centres at colatitude :math:`\theta = 90° - {\rm Dec}` and longitude
:math:`\phi = {\rm RA}`. The transforms are healpy's (libsharp/ducc): ``map2alm`` / ``alm2map`` for
kappa, ``map2alm_spin`` / ``alm2map_spin`` with ``spin=2`` for the shear; none is written here.

Shear orientation (the convention of the whole ``sphere`` package). ``gamma1``, ``gamma2`` are given,
like the catalogue's ``e1``, ``e2`` (:mod:`miu2net.survey.catalogue`), in the local (east, north) frame:
``gamma1 > 0`` stretches along RA (east-west), ``gamma2 > 0`` along the north-east/south-west diagonal,
and the tangential shear about a point at position angle :math:`\varphi` (east towards north) is
:math:`\gamma_t = -{\rm Re}[\gamma e^{-2i\varphi}]`. healpy's spin-2 field :math:`Q + iU` is defined on
the local :math:`(e_\theta, e_\phi)` = (south, east) frame (``Q > 0`` along the meridian). That frame is
the (east, north) frame turned by -90° (both are right-handed about the outward normal), and a spin-2
quantity turns by twice the angle, so **both** components flip:

.. math:: Q + iU = -(\gamma_1 + i\gamma_2) .

(Only ``gamma2`` would flip against a *mirrored* frame such as the IAU (north, east) one, or the flat
maps' (west, north) pixel frame of :mod:`miu2net.survey.grid`.) The proof is in the tests: a positive
Gaussian kappa blob gives the analytic flat-sky tangential profile :math:`\gamma_t = \bar\kappa(<r) -
\kappa(r) > 0`, and a patch cut and gridded as :mod:`miu2net.survey.grid` does matches the flat KS93 of
:mod:`miu2net.physics.operators`.

Harmonic relation. With the lensing potential :math:`\psi`, :math:`\kappa = \frac12\bar\eth\eth\psi`
and :math:`\gamma = \frac12\eth\eth\psi`, so in healpy's E/B convention

.. math:: E_{\ell m} = f_\ell\,\kappa_{E,\ell m},\quad B_{\ell m} = f_\ell\,\kappa_{B,\ell m},\qquad
          f_\ell = \sqrt{\frac{(\ell+2)(\ell-1)}{\ell(\ell+1)}}

(:func:`spin_factor`; :math:`f_\ell \to 1` at high ℓ, the flat KS93 limit). The monopole and dipole
carry no shear (:math:`f_0 = f_1 = 0`) and are set to zero in the inversion. As on the flat sky,
rotating the shear by 45° (:math:`\gamma \to i\gamma`) turns a pure E field into a pure B field with
:math:`\kappa_B` equal to the former :math:`\kappa_E`.

Accuracy. HEALPix quadrature is not exact: each analysis (``map2alm``) is refined by ``n_iter`` Jacobi
iterations (healpy's ``iter``), which makes a field band-limited to ``lmax <~ 2 nside`` round-trip to
~1e-4 or better.
"""

from __future__ import annotations

import healpy as hp
import numpy as np

from miu2net.errors import InputError

#: Jacobi refinements of each analysis (healpy's default for ``map2alm``).
DEFAULT_ITER = 3


def default_lmax(nside: int) -> int:
    """healpy's default band limit, ``3 nside - 1``."""
    return 3 * int(nside) - 1


def spin_factor(lmax: int) -> np.ndarray:
    r""":math:`f_\ell = \sqrt{(\ell+2)(\ell-1)/(\ell(\ell+1))}` for ℓ = 0..lmax (0 for ℓ < 2)."""
    ell = np.arange(int(lmax) + 1, dtype=np.float64)
    f = np.zeros_like(ell)
    f[2:] = np.sqrt((ell[2:] + 2.0) * (ell[2:] - 1.0) / (ell[2:] * (ell[2:] + 1.0)))
    return f


def check_map(name: str, values: np.ndarray) -> tuple[np.ndarray, int]:
    """``values`` as a float64 HEALPix map and its NSIDE, or InputError."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or not hp.isnpixok(values.size):
        raise InputError(f"{name} must be a 1-D HEALPix map of 12 nside^2 values; got shape {values.shape}")
    return values, int(hp.npix2nside(values.size))


def observed_pixels(gamma1: np.ndarray, gamma2: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Boolean map of the usable pixels: ``mask > 0`` (all when None), finite and not ``hp.UNSEEN``."""
    good = np.isfinite(gamma1) & np.isfinite(gamma2) & (gamma1 != hp.UNSEEN) & (gamma2 != hp.UNSEEN)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != gamma1.shape:
            raise InputError(f"mask has shape {mask.shape}, the shear maps {gamma1.shape}")
        good &= mask > 0
    return good


# ------------------------------------------------------------------------------------------------------
# Transforms with the package's sign convention
# ------------------------------------------------------------------------------------------------------
def shear_to_eb_alm(gamma1: np.ndarray, gamma2: np.ndarray, lmax: int, n_iter: int = DEFAULT_ITER
                    ) -> tuple[np.ndarray, np.ndarray]:
    r"""E and B harmonic coefficients of a shear map given in the (east, north) frame.

    Analysis of :math:`Q + iU = -(\gamma_1 + i\gamma_2)` by ``hp.map2alm_spin`` (spin 2), refined by
    ``n_iter`` Jacobi iterations. Masked pixels must already hold 0.
    """
    nside = hp.npix2nside(np.size(gamma1))
    maps = [-np.asarray(gamma1, dtype=np.float64), -np.asarray(gamma2, dtype=np.float64)]
    alm = [np.asarray(a) for a in hp.map2alm_spin(maps, 2, lmax=lmax)]
    for _ in range(int(n_iter)):
        q, u = hp.alm2map_spin(alm, nside, 2, lmax)
        delta = hp.map2alm_spin([maps[0] - q, maps[1] - u], 2, lmax=lmax)
        alm = [alm[0] + delta[0], alm[1] + delta[1]]
    return alm[0], alm[1]


def eb_alm_to_shear(alm_e: np.ndarray, alm_b: np.ndarray, nside: int, lmax: int) -> tuple[np.ndarray, np.ndarray]:
    """Shear maps (east, north) frame of E and B shear coefficients: ``-alm2map_spin`` (see module docstring)."""
    q, u = hp.alm2map_spin([np.asarray(alm_e, dtype=np.complex128), np.asarray(alm_b, dtype=np.complex128)],
                           int(nside), 2, int(lmax))
    return -q, -u


def kappa_alm_to_shear(kappa_alm: np.ndarray, nside: int, lmax: int | None = None,
                       kappa_b_alm: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    r"""Shear maps of convergence coefficients: :math:`E_{\ell m} = f_\ell\kappa_{\ell m}` (B likewise).

    Exact for band-limited fields (no analysis involved): the reference for round-trip tests.
    ``kappa_alm`` in healpy's packing (``hp.Alm``, mmax = lmax); ``lmax`` None: from its size.
    """
    kappa_alm = np.asarray(kappa_alm, dtype=np.complex128)
    lmax = hp.Alm.getlmax(kappa_alm.size) if lmax is None else int(lmax)
    f = spin_factor(lmax)
    alm_b = np.zeros_like(kappa_alm) if kappa_b_alm is None else hp.almxfl(kappa_b_alm, f)
    return eb_alm_to_shear(hp.almxfl(kappa_alm, f), alm_b, nside, lmax)


def kappa_to_shear(kappa: np.ndarray, lmax: int | None = None, *, n_iter: int = DEFAULT_ITER
                   ) -> tuple[np.ndarray, np.ndarray]:
    r"""Shear :math:`(\gamma_1, \gamma_2)` of a full-sky convergence map (forward spherical KS).

    Args:
        kappa: convergence, a full-sky RING map (dimensionless); non-finite or ``hp.UNSEEN`` pixels
            are refused (the forward model needs the whole sky).
        lmax: band limit of the transform; default ``3 nside - 1``.
        n_iter: Jacobi refinements of the analysis of ``kappa``.

    Returns:
        ``(gamma1, gamma2)``, full-sky RING maps in the local (east, north) frame (module docstring).
        The monopole and dipole of kappa produce no shear.
    """
    kappa, nside = check_map("kappa", kappa)
    if not np.all(np.isfinite(kappa)) or np.any(kappa == hp.UNSEEN):
        raise InputError("kappa must be finite on the whole sky (no UNSEEN pixel) for the forward transform")
    lmax = default_lmax(nside) if lmax is None else int(lmax)
    kappa_alm = hp.map2alm(kappa, lmax=lmax, iter=int(n_iter), pol=False)
    return kappa_alm_to_shear(kappa_alm, nside, lmax)


def shear_to_kappa_alm(gamma1: np.ndarray, gamma2: np.ndarray, mask: np.ndarray | None = None,
                       lmax: int | None = None, *, n_iter: int = DEFAULT_ITER) -> tuple[np.ndarray, np.ndarray]:
    r"""Harmonic coefficients :math:`(\kappa_{E,\ell m}, \kappa_{B,\ell m})` of the spherical KS inversion.

    :math:`\kappa_{E,\ell m} = E_{\ell m}/f_\ell` and likewise for B, 0 for ℓ < 2. Masked pixels
    (``mask == 0``, non-finite or ``hp.UNSEEN``) are set to zero shear first.
    """
    gamma1, nside = check_map("gamma1", gamma1)
    gamma2, _ = check_map("gamma2", gamma2)
    if gamma2.shape != gamma1.shape:
        raise InputError(f"gamma1 and gamma2 differ in size ({gamma1.size} and {gamma2.size})")
    good = observed_pixels(gamma1, gamma2, mask)
    lmax = default_lmax(nside) if lmax is None else int(lmax)
    alm_e, alm_b = shear_to_eb_alm(np.where(good, gamma1, 0.0), np.where(good, gamma2, 0.0), lmax, n_iter)
    f = spin_factor(lmax)
    inv_f = np.zeros_like(f)
    inv_f[2:] = 1.0 / f[2:]
    return hp.almxfl(alm_e, inv_f), hp.almxfl(alm_b, inv_f)


def shear_to_kappa(gamma1: np.ndarray, gamma2: np.ndarray, mask: np.ndarray | None = None,
                   lmax: int | None = None, *, n_iter: int = DEFAULT_ITER, outside: float | None = hp.UNSEEN
                   ) -> tuple[np.ndarray, np.ndarray]:
    r"""Spherical Kaiser-Squires inversion: :math:`(\kappa_E, \kappa_B)` maps of a shear map.

    Args:
        gamma1, gamma2: shear (or mean ellipticity) per pixel, full-sky RING maps in the (east, north)
            frame of the catalogues (module docstring).
        mask: 1 observed, 0 masked (same size); None: every finite, non-``UNSEEN`` pixel is observed.
            Masked pixels are given zero shear before the transform.
        lmax: band limit; default ``3 nside - 1``.
        n_iter: Jacobi refinements of the spin-2 analysis.
        outside: value written in the masked pixels of the result (default ``hp.UNSEEN``, healpy's
            "outside the footprint"); None keeps the transform's values there.

    Returns:
        ``(kappa_E, kappa_B)`` RING maps; monopole and dipole are zero (over the whole sphere).
    """
    alm_e, alm_b = shear_to_kappa_alm(gamma1, gamma2, mask, lmax, n_iter=n_iter)
    nside = hp.npix2nside(np.size(gamma1))
    lmax = hp.Alm.getlmax(alm_e.size)
    kappa_e = hp.alm2map(alm_e, nside, lmax=lmax, pol=False)
    kappa_b = hp.alm2map(alm_b, nside, lmax=lmax, pol=False)
    if outside is not None:
        good = observed_pixels(np.asarray(gamma1, dtype=np.float64), np.asarray(gamma2, dtype=np.float64), mask)
        kappa_e[~good] = outside
        kappa_b[~good] = outside
    return kappa_e, kappa_b
