"""miu2net: weak-lensing mass mapping with MIU2Net and the classical methods it is judged against.

Conventions (docs/conventions.md): maps are 2-D arrays indexed ``[y, x]`` with square pixels of side
``pixel_arcmin``; shear is complex ``gamma = gamma1 + 1j * gamma2`` with its components defined on the
map's own x (axis 1) and y (axis 0) axes; masks hold 1 where observed and 0 where masked.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("miu2net")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from miu2net.errors import InputError
from miu2net.maps import KappaMap, ShearMap

__all__ = ["InputError", "KappaMap", "ShearMap", "__version__"]
