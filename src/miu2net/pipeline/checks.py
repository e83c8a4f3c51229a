"""The reconstruct request checked before any work: paths, method options, gridding numbers, sizes."""

from __future__ import annotations

from pathlib import Path

from miu2net.errors import InputError
from miu2net.methods import get_method
from miu2net.pipeline.auto import AUTO, check_auto_options
from miu2net.pipeline.load import CatalogueOptions, is_gridded
from miu2net.validate import MIN_MAP_SIZE  # the smallest map side (re-exported by miu2net.pipeline)


def check_method_options(method: str, options: dict) -> None:
    """Refuse options ``method`` does not have, values of the wrong kind and numbers out of range: the
    method's own declaration (:class:`miu2net.methods.base.Option`), checked before any work."""
    get_method(method).check_options(options)


def validate_reconstruct_request(
    path: Path,
    *,
    output: Path | None = None,
    png: Path | None = None,
    method: str = AUTO,
    options: dict | None = None,
    catalogue: CatalogueOptions | None = None,
    noise_realisations: int = 0,
    tile: int | None = None,
    tile_overlap: int = 32,
    seed: int = 0,
) -> None:
    """Everything ``reconstruct_file`` and the outputs need, checked before any work (InputError).

    The input exists; each output can be written and is neither the input nor another output; the
    method and its option values are known and in range; the catalogue's gridding options are finite
    and in range, and an asked map size fits in memory (:func:`miu2net.validate.check_map_size_memory`);
    the figure is a ``.png``; the seed is one the random generator takes.
    """
    from miu2net.validate import (
        FITS_OUTPUT_SUFFIXES,
        MAX_NOISE_REALISATIONS,
        check_input_file,
        check_map_size_memory,
        check_number,
        check_output_path,
        check_seed,
    )

    path = Path(path)
    check_input_file(path, "input")
    if output is not None:
        check_output_path(output, "-o", inputs=[path])
    if png is not None:
        check_output_path(png, "--png", inputs=[path], others=[("-o", output)], suffix=".png")
    if output is not None and Path(output).suffix.lower() not in FITS_OUTPUT_SUFFIXES:  # not FITS under a .png name
        raise InputError(f"-o {output}: expected a {' or '.join(FITS_OUTPUT_SUFFIXES)} file name")
    check_seed(seed)
    if method != AUTO:
        check_method_options(method, options or {})
    else:
        check_auto_options(options or {})
    opts = catalogue or CatalogueOptions()
    if catalogue is not None and is_gridded(path):
        default = CatalogueOptions()
        given = [name for name, value in catalogue.__dict__.items() if value != getattr(default, name)]
        if given:
            raise InputError(f"{path} is gridded shear, not a catalogue: the catalogue option(s) "
                             f"{', '.join(_flag(n) for n in given)} do not apply to it")
    check_number(opts.pixel_arcmin, "--pixel-arcmin", low=0.0, low_open=True, high=600.0, unit="arcmin")
    if opts.size is not None:
        check_number(opts.size, "--size", low=MIN_MAP_SIZE, unit="pixels")
        check_map_size_memory(opts.size)
    if opts.center is not None:
        ra, dec = opts.center
        check_number(ra, "--center RA", low=-180.0, high=360.0, unit="degrees")
        check_number(dec, "--center Dec", low=-90.0, high=90.0, unit="degrees")
    check_number(opts.shape_noise_sigma, "--shape-noise-sigma", low=0.0, high=1.0, low_open=True, high_open=True)
    check_number(noise_realisations, "--noise-realisations", low=0, high=MAX_NOISE_REALISATIONS,
                 unit="realisations, each a whole reconstruction (20 to 100 are plenty)")
    check_size_options(options or {}, side=opts.size or MIN_MAP_SIZE)  # before reading: the map's own side later
    if noise_realisations == 1:
        raise InputError("--noise-realisations 1 cannot estimate a standard deviation: give 0 (none) or at "
                         "least 2 (20 or more for a trustworthy SIGMA_NOISE and S/N)")
    if tile is not None:
        check_number(tile, "--tile", low=MIN_MAP_SIZE, unit="pixels")
        check_number(tile_overlap, "--tile-overlap", low=0, high=tile - 1, unit="pixels (less than --tile)")
    else:
        check_number(tile_overlap, "--tile-overlap", low=0, unit="pixels")


def check_size_options(options: dict, *, side: int, pixel_arcmin: float | None = None) -> None:
    """Refuse method options that size an allocation beyond reason (InputError): a ``pad_pixels`` margin
    whose padded grid (``side + 2 pad_pixels`` a side) would not fit in memory, and with the map's pixel
    known a Gaussian ``smooth_arcmin`` wider than the whole map (it smooths the map to its mean, and its
    kernel of 8 sigma would be allocated in pixels)."""
    from miu2net.validate import check_map_size_memory, largest_map_side

    pad = options.get("pad_pixels")
    if isinstance(pad, int) and not isinstance(pad, bool) and pad > 0:
        largest = max((largest_map_side() - side) // 2, 0)
        check_map_size_memory(side + 2 * pad, flag=f"--option pad_pixels={pad}: the padded map side",
                              advice=f"give at most pad_pixels={largest} (the default margin is 26 arcmin)")
    smooth = options.get("smooth_arcmin")
    if pixel_arcmin is not None and isinstance(smooth, (int, float)) and not isinstance(smooth, bool):
        extent = side * float(pixel_arcmin)
        if smooth > extent:
            raise InputError(f"--smooth / smooth_arcmin {smooth:g} arcmin is wider than the whole map ({side} pixels "
                             f"of {pixel_arcmin:g}' = {extent:.4g}'): it would smooth the map to its mean; give at "
                             f"most {extent:.4g} arcmin (a few arcmin is usual)")


def _flag(option: str) -> str:
    """The CLI flag of a :class:`CatalogueOptions` field."""
    return {"columns": "--ra-col/--dec-col/--e1-col/...", "cuts": "--cut"}.get(option, "--" + option.replace("_", "-"))
