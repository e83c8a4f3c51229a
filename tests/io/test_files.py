"""Atomic writes: the destination is replaced whole or not at all, and no temporary file stays behind."""

import os
from pathlib import Path

import pytest

from miu2net.errors import InputError
from miu2net.io.files import atomic_write, publish


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_writer_that_raises_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "out.fits"
    path.write_text("old")

    def half_write(tmp):
        Path(tmp).write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(path, half_write)
    assert path.read_text() == "old"
    assert _listing(tmp_path) == ["out.fits"]


def test_interrupted_writer_leaves_nothing_new(tmp_path):
    def interrupted(tmp):
        Path(tmp).write_text("x")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "new.npz", interrupted)
    assert _listing(tmp_path) == []


def test_a_finished_write_replaces_the_file_with_the_usual_permissions(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    seen = []

    def write(tmp):
        seen.append(tmp)
        assert Path(tmp).parent == tmp_path and Path(tmp).name.startswith(".out.txt.") and tmp.endswith(".png")
        Path(tmp).write_text("new")

    assert atomic_write(path, write, suffix=".png") == path
    assert path.read_text() == "new" and _listing(tmp_path) == ["out.txt"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask, "mkstemp's private mode is not kept"


def test_missing_folder_is_an_input_error_unless_parents_are_made(tmp_path):
    target = tmp_path / "a" / "b" / "out.txt"
    with pytest.raises(InputError, match="does not exist"):
        atomic_write(target, lambda tmp: Path(tmp).write_text("x"))
    assert not (tmp_path / "a").exists()
    atomic_write(target, lambda tmp: Path(tmp).write_text("x"), make_parents=True)
    assert target.read_text() == "x"


def test_fixed_temporary_name_for_a_file_rewritten_often(tmp_path):
    path = tmp_path / "last.ckpt"
    names = []
    (tmp_path / ".last.ckpt.tmp").write_text("left by a killed run")
    atomic_write(path, lambda tmp: (names.append(tmp), Path(tmp).write_text("v1")), fixed_tmp=True)
    assert names == [str(tmp_path / ".last.ckpt.tmp")]
    assert path.read_text() == "v1" and _listing(tmp_path) == ["last.ckpt"]


def test_publish_renames_and_opens_the_permissions(tmp_path):
    tmp = tmp_path / ".x.tmp"
    tmp.write_text("data")
    os.chmod(tmp, 0o600)
    publish(tmp, tmp_path / "x")
    umask = os.umask(0)
    os.umask(umask)
    assert not tmp.exists() and (tmp_path / "x").read_text() == "data"
    assert (tmp_path / "x").stat().st_mode & 0o777 == 0o666 & ~umask
