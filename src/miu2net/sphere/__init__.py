"""Mass maps on the sphere (HEALPix, healpy's RING ordering, ``hp.UNSEEN`` outside the footprint).

Shear maps and catalogues share one orientation: the local (east, north) frame of
:mod:`miu2net.survey.catalogue`; healpy's spin-2 field is :math:`Q + iU = -(\\gamma_1 + i\\gamma_2)`
(:mod:`miu2net.sphere.harmonic`).

* :mod:`~miu2net.sphere.harmonic`: spherical Kaiser-Squires (forward and inverse).
* :mod:`~miu2net.sphere.wiener`: the Wiener filter on the sphere (preconditioned CG in harmonic space).
* :mod:`~miu2net.sphere.binning`: catalogue chunks -> HEALPix shear, mask, noise; the NSIDE rule.
* :mod:`~miu2net.sphere.patches`: flat gnomonic patches over the sphere, shear rotation, blending.
"""

from miu2net.sphere.binning import (
                                    HealpixShear,
                                    ShearAccumulator,
                                    bin_catalogue_healpix,
                                    footprint_nside_default,
                                    nside_pixel_arcmin,
)
from miu2net.sphere.harmonic import kappa_alm_to_shear, kappa_to_shear, shear_to_kappa, shear_to_kappa_alm, spin_factor
from miu2net.sphere.patches import (
                                    PatchOnSphere,
                                    blend,
                                    blend_sums,
                                    feather,
                                    gnomonic_patch,
                                    north_angle,
                                    patch_centres,
                                    patch_to_sphere,
                                    project_to_patch,
                                    sample_to_patch,
                                    shear_to_patch_frame,
)
from miu2net.sphere.wiener import SphereWienerResult, noise_cl_ks, wiener_filter

__all__ = [
    "HealpixShear",
    "PatchOnSphere",
    "ShearAccumulator",
    "SphereWienerResult",
    "bin_catalogue_healpix",
    "blend",
    "blend_sums",
    "feather",
    "footprint_nside_default",
    "gnomonic_patch",
    "kappa_alm_to_shear",
    "kappa_to_shear",
    "noise_cl_ks",
    "north_angle",
    "nside_pixel_arcmin",
    "patch_centres",
    "patch_to_sphere",
    "project_to_patch",
    "sample_to_patch",
    "shear_to_kappa",
    "shear_to_kappa_alm",
    "shear_to_patch_frame",
    "spin_factor",
    "wiener_filter",
]
