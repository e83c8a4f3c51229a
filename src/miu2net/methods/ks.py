r"""Kaiser-Squires (1993) inversion with optional Gaussian smoothing.

:math:`\hat\kappa_E + i\hat\kappa_B = \hat D^*\hat g` on the grid (see :mod:`miu2net.physics.operators`),
treating the reduced shear as the shear (the weak-lensing approximation) and masked pixels as zero
shear. The mean is unknown (the mass sheet): the result has zero mean over the FFT grid, i.e. over the
zero-padded grid twice the map's size with ``pad=True`` (so not exactly zero over the map itself).
"""

from __future__ import annotations

from miu2net.maps import KappaMap, ShearMap
from miu2net.methods.base import Method, checked, options
from miu2net.physics.operators import ks93_inverse
from miu2net.physics.smoothing import gaussian_smooth


@checked
def reconstruct(shear: ShearMap, *, smooth_arcmin: float = 0.0, pad: bool = True) -> KappaMap:
    """Kaiser-Squires convergence of a gridded shear map.

    Args:
        shear: the gridded (reduced) shear; masked pixels hold 0.
        smooth_arcmin: standard deviation (arcmin, not FWHM) of a Gaussian applied to kappa_E and
            kappa_B after the inversion; 0 for none.
        pad: zero-pad to twice the map size before the FFT, so shear at one edge does not leak
            into the opposite edge (the field is treated as empty outside the map).

    Returns:
        KappaMap with E and B modes, the input's WCS, and the options in ``meta``.
    """
    kappa_e, kappa_b = ks93_inverse(shear.g1 * shear.mask, shear.g2 * shear.mask, pad=pad)
    if smooth_arcmin > 0:
        kappa_e = gaussian_smooth(kappa_e, sigma_arcmin=smooth_arcmin, pixel_arcmin=shear.pixel_arcmin)
        kappa_b = gaussian_smooth(kappa_b, sigma_arcmin=smooth_arcmin, pixel_arcmin=shear.pixel_arcmin)
    return KappaMap(
        kappa_e=kappa_e,
        kappa_b=kappa_b,
        pixel_arcmin=shear.pixel_arcmin,
        wcs=shear.wcs,
        meta={"method": "ks", "options": {"smooth_arcmin": smooth_arcmin, "pad": pad}},
    )


METHOD = Method("ks", reconstruct, options(
    "smooth_arcmin", "pad",
))
