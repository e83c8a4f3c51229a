"""Real data: shear catalogues to gridded shear (projection, binning, weights, WCS), noise realisations."""

from miu2net.survey.catalogue import Catalogue, read_catalogue
from miu2net.survey.grid import Binning, bin_catalogue, field_center

__all__ = ["Binning", "Catalogue", "bin_catalogue", "field_center", "read_catalogue"]
