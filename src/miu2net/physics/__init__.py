"""The physics core: pure functions on arrays (NumPy, and torch where marked), no I/O, no state.

- :mod:`.operators`: Kaiser-Squires forward (kappa -> gamma) and inverse (gamma -> kappa_E, kappa_B).
- :mod:`.shear`: reduced shear, ellipticity composition, shape noise.
- :mod:`.masks`: star holes, CCD gaps, survey edges, masks of a target masked fraction.
- :mod:`.cosmology`: C_ell^kappa-kappa (one tabulated interpolator for every use) and Sigma_crit through pyccl.
- :mod:`.fourier`: the ell grid of a map and its binning; :mod:`.units`: angle constants.
- :mod:`.smoothing`: Gaussian smoothing; :mod:`.consistency`: CHI2DOF and the B/E power ratio of the data.
"""

from miu2net.physics.operators import ks93_forward, ks93_inverse, rotate_shear
from miu2net.physics.shear import (
    add_pixel_noise,
    compose_ellipticity,
    draw_intrinsic_ellipticities,
    noise_from_counts,
    pixel_noise_sigma,
    reduced_shear,
)

__all__ = [
    "add_pixel_noise",
    "compose_ellipticity",
    "draw_intrinsic_ellipticities",
    "ks93_forward",
    "ks93_inverse",
    "noise_from_counts",
    "pixel_noise_sigma",
    "reduced_shear",
    "rotate_shear",
]
