"""Checks every command makes before it starts work: numbers, map sizes, output paths.

Each check raises :class:`miu2net.errors.InputError` whose message says what was wrong, what was
expected and how to fix it; the CLI turns it into one ``error:`` line and exit code 2. The checks run
before any file is read in full or any map is allocated, so a refused command costs nothing and
leaves nothing behind.

Memory bound on map size. A reconstruction of an ``N x N`` map holds many float64 maps of that
size at once (shear, mask, noise, the zero-padded complex FFTs of the operators, the outputs, the
noise realisations' accumulators). Measured with ``tracemalloc`` (``reconstruct_file`` on 512² and
1024² gridded maps): 600 bytes per pixel for KS with noise realisations, about 1000 for the Wiener
filter. :data:`BYTES_PER_PIXEL` is the lightest method's, so a refused size would fail with any
method. A map whose estimate exceeds the machine's physical memory is refused with the estimate
and the largest size that fits.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path

from miu2net.errors import InputError

#: Smallest map side (pixels) a reconstruction is made on: below it the map holds no structure.
MIN_MAP_SIZE = 8

#: Names a FITS output may have: a map written as FITS under another name (``-o k.png``) is refused.
FITS_OUTPUT_SUFFIXES = (".fits", ".fit", ".fts")

#: Bytes a reconstruction holds per map pixel (module docstring); the basis of the size bound.
BYTES_PER_PIXEL = 600

#: Largest seed a command accepts: the random generators' (numpy's legacy, torch's, Lightning's) 32-bit range.
MAX_SEED = 2**32 - 1

#: Most noise realisations ``reconstruct`` runs: each is a whole reconstruction, and their seeds are drawn up
#: front; 10,000 give SIGMA_NOISE to 0.7 % (20 already to 16 %), a billion would exhaust memory before starting.
MAX_NOISE_REALISATIONS = 10_000


def physical_memory_bytes() -> int:
    """Total physical memory of this machine in bytes (psutil when present, else sysconf)."""
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except ImportError:  # pragma: no cover - psutil is a dependency of our dependencies
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def _gigabytes(n_bytes: float) -> str:
    return f"{n_bytes / 1e12:.3g} TB" if n_bytes >= 1e12 else f"{n_bytes / 1e9:.3g} GB"


def largest_map_side(memory_bytes: int | None = None) -> int:
    """The largest map side (pixels, even) whose reconstruction fits in ``memory_bytes`` (default: this
    machine's physical memory) at :data:`BYTES_PER_PIXEL`."""
    memory = physical_memory_bytes() if memory_bytes is None else memory_bytes
    return int(math.sqrt(memory / BYTES_PER_PIXEL)) // 2 * 2


def check_map_size_memory(size: int, *, flag: str = "--size", memory_bytes: int | None = None,
                          advice: str | None = None) -> None:
    """Refuse a ``size`` x ``size`` map whose reconstruction would not fit in memory.

    Args:
        size: map side in pixels.
        flag: the option named in the message.
        memory_bytes: the memory to compare with (default: this machine's physical memory).
        advice: what to do instead (default: at most ``flag`` N, a larger pixel, or fields of the catalogue).
    """
    memory = physical_memory_bytes() if memory_bytes is None else memory_bytes
    need = float(size) ** 2 * BYTES_PER_PIXEL
    if need > memory:
        largest = largest_map_side(memory)
        raise InputError(
            f"{flag} {size} asks for a {size}x{size} map, which needs about {_gigabytes(need)} of memory "
            f"({BYTES_PER_PIXEL} bytes per pixel) but this machine has {_gigabytes(memory)}: "
            + (advice or f"give at most {flag} {largest}, a larger --pixel-arcmin, or cut the catalogue into fields")
        )


def check_number(value: float | int | None, flag: str, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False, unit: str = "") -> None:
    """Refuse a non-finite ``value`` or one outside [low, high] (``*_open``: bound excluded). None passes."""
    if value is None:
        return
    if not math.isfinite(value):
        raise InputError(f"{flag} must be a finite number{f' ({unit})' if unit else ''}; got {value}")
    unit = f" {unit}" if unit else ""
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise InputError(f"{flag} must lie in {left}{lo}, {hi}{right}{unit}; got {value:g}")


def check_seed(seed: int | None, flag: str = "--seed") -> None:
    """Refuse a seed the random generators do not take (negative, or beyond 32 bits). None passes."""
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise InputError(f"{flag} must be a whole number in [0, {MAX_SEED}]; got {seed}")


def package_folder() -> Path:
    """The installed ``miu2net`` package's own folder (its code and its shipped models)."""
    import miu2net

    return Path(miu2net.__file__).resolve().parent


def check_not_in_package(path: Path, flag: str) -> None:
    """Refuse an output inside the installed package (:func:`package_folder`): writing there would change
    the code or the shipped models of every user of this installation."""
    package = package_folder()
    if _inside(Path(path), package):
        models = package / "models"
        where = f"the shipped models' folder {models}" if _inside(Path(path), models) else f"the miu2net package {package}"
        raise InputError(f"{flag} {path} lies in {where}; commands never write into the installed package: "
                         "write elsewhere (e.g. runs/NAME)")


def check_new_model_stem(path: Path, flag: str) -> None:
    """Refuse a model output stem (``NAME`` writes ``NAME.safetensors`` and ``NAME.json``) where a model
    file already exists: it would be overwritten without a word."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix.lower() in (".safetensors", ".json") else path
    existing = [str(stem) + s for s in (".safetensors", ".json") if Path(str(stem) + s).exists()]
    if existing:
        raise InputError(f"{flag} {path}: {' and '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; "
                         "give a new name (or remove the old model first)")


def _same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name the same file (resolved paths, or the same inode when both exist)."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_output_path(path: Path, flag: str, *, inputs: Iterable[Path] = (), others: Iterable[tuple[str, Path]] = (),
                      folder: bool = False, suffix: str | tuple[str, ...] | None = None) -> None:
    """Refuse an output that cannot be written, or that would overwrite an input or another output.

    Also refused: an output inside the installed package (:func:`check_not_in_package`), and an existing
    file output that is not a regular file (``/dev/null``, a FIFO: the atomic rename would replace it).

    Args:
        path: where the command will write.
        flag: the option named in the message (``-o``, ``--png`` ...).
        inputs: files the command reads; the output must differ from each.
        others: (flag, path) of the command's other outputs; each must differ from ``path``.
        folder: the output is a folder (created with its parents if missing; an existing file is
            refused); otherwise a file, whose folder must exist (an existing folder is refused).
        suffix: the expected file suffix (e.g. ``.png``), or a tuple of the accepted ones
            (:data:`FITS_OUTPUT_SUFFIXES`); refused otherwise.
    """
    path = Path(path)
    suffixes = (suffix,) if isinstance(suffix, str) else suffix
    if str(path) in ("", "."):
        raise InputError(f"{flag}: give a {'folder' if folder else 'file'} name")
    check_not_in_package(path, flag)
    if folder and path.exists() and not path.is_dir():
        raise InputError(f"{flag} {path} is an existing file; give a folder (existing or new)")
    if not folder and path.is_dir():
        raise InputError(f"{flag} {path} is an existing directory; give a file name, e.g. {path / 'out'}"
                         + (suffixes[0] if suffixes else ".fits"))
    if not folder and path.exists() and not path.is_file():  # the atomic rename would replace it by a file
        raise InputError(f"{flag} {path} exists and is not a regular file (a device, FIFO or socket); "
                         "give the name of a new or existing regular file")
    for source in inputs:
        if source is not None and _same_file(path, Path(source)):
            raise InputError(f"{flag} {path} is the input {source}: writing it would destroy the input; "
                             "give another output name")
        if source is not None and Path(source).is_dir() and _inside(path, Path(source)):
            raise InputError(f"{flag} {path} lies inside the input {source}: writing there would change the "
                             "input; give an output outside it")
    for other_flag, other in others:
        if other is not None and _same_file(path, Path(other)):
            raise InputError(f"{flag} {path} is also {other_flag}: give each output its own name")
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise InputError(f"{flag} {path}: expected a {' or '.join(suffixes)} file name")
    parent = path.parent if str(path.parent) else Path(".")
    if folder:  # a new folder is made with its parents: the nearest existing ancestor must be a writable folder
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir():
            raise InputError(f"{flag} {path}: {parent} is a file, so the folder cannot be made")
    elif not parent.is_dir():
        raise InputError(f"{flag} {path}: the folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK) or not _can_create_in(parent):
        raise InputError(f"{flag} {path}: the folder {parent} is not writable")
    if path.exists() and not os.access(path, os.W_OK) and not folder:
        raise InputError(f"{flag} {path}: the existing file is not writable")


def _inside(path: Path, folder: Path) -> bool:
    """True when ``path`` lies inside ``folder`` (both resolved, symlinks followed)."""
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def _can_create_in(folder: Path) -> bool:
    """Whether a file can really be created in ``folder`` (``os.access`` says yes to root everywhere and
    knows nothing of read-only or special file systems): create and remove an empty temporary file."""
    import tempfile

    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".miu2net-write-check."):
            return True
    except OSError:
        return False


def check_input_file(path: Path, flag: str) -> None:
    """Refuse a missing input, a folder given where a file is expected, and a FIFO or device."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{flag} {path}: no such file")
    if path.is_dir():
        raise InputError(f"{flag} {path} is a directory; give a file")
    if not path.is_file():  # a FIFO would block the read forever; a device is no data file
        raise InputError(f"{flag} {path} is not a regular file (a device, FIFO or socket); give a file")
