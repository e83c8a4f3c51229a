"""The user's reconstruction journey as one Python call: a file in, a convergence map with errors out.

``reconstruct_file`` reads gridded shear (FITS/npz) or a galaxy catalogue (FITS table, CSV, Parquet),
grids the catalogue, runs a method (tiled for wide fields when asked), and adds the noise-only error
and S/N maps from randomly rotated ellipticities. The CLI's ``reconstruct`` is a thin shell over it.

The method is asked once, through its contract (:mod:`miu2net.methods.base`), for its options
(checked, and a trained model loaded once for every tile and noise realisation) and for the grid it
works on: a trained model's method (``miu2net``, ``deepmass``) bins input at an integer fraction of the
model's pixel to that pixel (:mod:`miu2net.nn.inference`); here the shear is binned first, so that
tiles, the CHI2DOF of a tiled map, the noise realisations and the returned ShearMap all are on the κ
map's grid. ``tile`` and ``tile_overlap`` count input pixels and are divided by the binning factor.

The parts: :mod:`.load` (reading and gridding the input), :mod:`.auto` (the default method's choice),
:mod:`.checks` (the request checked before any work); and :mod:`.reconstruct` runs them in order.
"""

from miu2net.pipeline.auto import (
    AUTO,
    AUTO_FALLBACK,
    AUTO_NETWORK_OPTIONS,
    check_auto_options,
    choose_method,
    explain_auto_fallback,
)
from miu2net.pipeline.checks import MIN_MAP_SIZE, check_method_options, check_size_options, validate_reconstruct_request
from miu2net.pipeline.load import DEFAULT_CATALOGUE_PIXEL_ARCMIN, CatalogueOptions, is_gridded, load_shear
from miu2net.pipeline.reconstruct import reconstruct_file, survey_options

__all__ = [
    "AUTO", "AUTO_FALLBACK", "AUTO_NETWORK_OPTIONS", "DEFAULT_CATALOGUE_PIXEL_ARCMIN", "MIN_MAP_SIZE",
    "CatalogueOptions", "check_auto_options", "check_method_options", "check_size_options", "choose_method",
    "explain_auto_fallback", "is_gridded", "load_shear", "reconstruct_file", "survey_options",
    "validate_reconstruct_request",
]
