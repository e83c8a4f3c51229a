"""Reading the reconstruct journey's input: gridded shear as it is, a catalogue read and gridded."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

from astropy.io import fits

from miu2net.config.survey import CSST
from miu2net.errors import InputError
from miu2net.io import FITS_SUFFIXES, read_shear_map

#: The pixel a catalogue is gridded at by default: the default survey's (preset csst), where the native
#: shipped model works.
DEFAULT_CATALOGUE_PIXEL_ARCMIN = CSST["pixel_arcmin"]

@dataclass
class CatalogueOptions:
    """How to read and grid a catalogue (ignored for gridded input). Angles in degrees / arcmin as named."""

    columns: dict[str, str] = field(default_factory=dict)
    flip_e1: bool = False
    flip_e2: bool = False
    cuts: list[str] = field(default_factory=list)
    pixel_arcmin: float | None = None
    size: int | None = None
    center: tuple[float, float] | None = None
    shape_noise_sigma: float | None = None


def is_gridded(path: Path) -> bool:
    """True for gridded shear (npz, or FITS with a G1 image HDU); False for a catalogue."""
    if path.suffix.lower() == ".npz":
        return True
    if str(path).lower().endswith(FITS_SUFFIXES):
        try:
            with warnings.catch_warnings():  # a damaged file is reported by the reader, in one line
                warnings.simplefilter("ignore")
                with fits.open(path, memmap=False) as hdul:
                    return any(h.name.upper() == "G1" for h in hdul)
        except Exception as exc:
            raise InputError(f"{path}: not a readable FITS file ({exc})") from None
    return False


def load_shear(path: str | Path, catalogue: CatalogueOptions | None = None):
    """Gridded shear from ``path``; for a catalogue also its Binning (else None)."""
    from miu2net.survey import bin_catalogue, read_catalogue

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if is_gridded(path):
        return read_shear_map(path), None
    opts = catalogue or CatalogueOptions()
    cat = read_catalogue(path, columns=opts.columns, flip_e1=opts.flip_e1, flip_e2=opts.flip_e2, cuts=opts.cuts)
    pixel = opts.pixel_arcmin if opts.pixel_arcmin is not None else DEFAULT_CATALOGUE_PIXEL_ARCMIN
    return bin_catalogue(cat, pixel_arcmin=pixel, size=opts.size, center=opts.center,
                         shape_noise_sigma=opts.shape_noise_sigma)
