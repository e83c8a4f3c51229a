r"""The machinery the iterative classical methods share (:mod:`.wiener`, :mod:`.ksplus`, :mod:`.sparse`,
:mod:`.mcalens`): the default survey's noise numbers, the inverse noise weights and the observed shear on
the padded grid of :class:`miu2net.physics.wiener.LensingGrid`, and the reduced-shear correction."""

from __future__ import annotations

import numpy as np

from miu2net.config.survey import CSST
from miu2net.maps import ShearMap
from miu2net.physics.shear import pixel_noise_sigma
from miu2net.physics.wiener import LensingGrid

# The default survey's (preset csst): sigma_e total, sources per arcmin^2.
DEFAULT_SHAPE_NOISE_SIGMA = CSST["shape_noise_sigma"]
DEFAULT_N_GAL_ARCMIN2 = CSST["n_gal_arcmin2"]


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
    sigma_e, n_gal = float(shape_noise_sigma), float(n_gal_arcmin2)  # checked by the caller's Option table
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
