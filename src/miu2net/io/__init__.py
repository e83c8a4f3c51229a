"""Files: the one room that reads and writes them.

:mod:`.files` writes any file atomically (a crash never leaves half a file); :mod:`.fits` reads gridded
shear and writes convergence maps by the file contracts (docs/files.md).
"""

from miu2net.io.files import atomic_write, publish
from miu2net.io.fits import (
    FITS_SUFFIXES,
    MIN_NOISE,
    SHEAR_MAPS,
    pixel_arcmin_of_hdu,
    pixel_arcmin_of_wcs,
    provenance_cards,
    read_kappa_map,
    read_shear_map,
    write_kappa_map,
    write_kappa_planes,
    write_shear_map,
)
from miu2net.maps import default_wcs

__all__ = [
    "FITS_SUFFIXES", "MIN_NOISE", "SHEAR_MAPS", "atomic_write", "default_wcs", "pixel_arcmin_of_hdu",
    "pixel_arcmin_of_wcs", "provenance_cards", "publish", "read_kappa_map", "read_shear_map", "write_kappa_map",
    "write_kappa_planes", "write_shear_map",
]
