"""Writing files so that nothing written is ever half a file: one atomic writer for the whole package.

:func:`atomic_write` hands a writer a temporary path beside the destination, then gives the finished
file the usual permissions (``mkstemp`` makes it private) and renames it over the destination in one
step (``os.replace``, atomic on POSIX within a file system). A crash or an exception leaves the
destination as it was and removes the temporary file. Readers never see a partial file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from miu2net.errors import InputError


def publish(tmp: str | Path, path: str | Path) -> None:
    """Give a finished temporary file the usual permissions (mkstemp makes it private) and rename it."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


def atomic_write(path: str | Path, write: Callable[[str], object], *, suffix: str = ".tmp",
                 make_parents: bool = False, fixed_tmp: bool = False) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``.

    Args:
        path: destination file.
        write: writes the whole content to the temporary path it is given.
        suffix: suffix of the temporary name (some writers choose the format by it, e.g. ``.png``).
        make_parents: create missing parent folders; otherwise a missing folder is an InputError.
        fixed_tmp: use the one temporary name ``.NAME{suffix}`` rather than a unique one, for a file
            rewritten often by one writer (a training checkpoint): a run killed mid-write leaves at
            most that one file, which the next write replaces.

    Returns:
        ``path``.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if make_parents:
        directory.mkdir(parents=True, exist_ok=True)
    elif not directory.is_dir():
        raise InputError(f"{path}: output folder {directory} does not exist")
    if fixed_tmp:
        tmp = str(directory / f".{path.name}{suffix}")
    else:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=suffix)
        os.close(fd)
    try:
        write(tmp)
        publish(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
