"""The checks every command makes before work: numbers, seeds, map sizes against memory, output paths."""

import os
import stat
from pathlib import Path

import pytest

from miu2net.errors import InputError
from miu2net.validate import (
    BYTES_PER_PIXEL,
    MAX_SEED,
    check_input_file,
    check_map_size_memory,
    check_new_model_stem,
    check_not_in_package,
    check_number,
    check_output_path,
    check_seed,
    largest_map_side,
    package_folder,
)


def test_output_check_refuses_a_character_device_without_writing():
    from miu2net.errors import InputError
    from miu2net.validate import check_output_path

    device = Path("/dev/null")
    if not device.exists() or not stat.S_ISCHR(os.stat(device).st_mode):
        pytest.skip("no /dev/null character device here")
    before = os.stat(device)
    listing = sorted(os.listdir("/dev"))
    with pytest.raises(InputError, match="is not a regular file"):
        check_output_path(device, "-o")
    with pytest.raises(InputError, match="is not a regular file"):
        check_output_path(device, "--png", suffix=".png")
    after = os.stat(device)
    assert stat.S_ISCHR(after.st_mode) and (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)
    assert sorted(os.listdir("/dev")) == listing, "no temporary file made in /dev"


def test_check_number_names_the_flag_and_the_range():
    check_number(0.5, "--coverage", low=0.0, high=1.0, low_open=True, high_open=True)
    check_number(None, "--size", low=8)
    check_number(8, "--size", low=8)
    with pytest.raises(InputError, match=r"^--coverage must lie in \(0, 1\); got 1$"):
        check_number(1.0, "--coverage", low=0.0, high=1.0, low_open=True, high_open=True)
    with pytest.raises(InputError, match=r"^--size must lie in \[8, inf\] pixels; got 4$"):
        check_number(4, "--size", low=8, unit="pixels")
    with pytest.raises(InputError, match=r"--smooth must be a finite number \(arcmin\); got nan"):
        check_number(float("nan"), "--smooth", low=0.0, unit="arcmin")
    with pytest.raises(InputError, match="--n-gal must be a finite number; got inf"):
        check_number(float("inf"), "--n-gal")


def test_check_seed_takes_the_32_bit_range():
    for seed in (None, 0, MAX_SEED):
        check_seed(seed)
    for seed in (-1, MAX_SEED + 1):
        with pytest.raises(InputError, match=rf"--seed must be a whole number in \[0, {MAX_SEED}\]; got {seed}"):
            check_seed(seed)
    with pytest.raises(InputError, match="^--stream-seed"):
        check_seed(-5, "--stream-seed")


def test_map_size_against_memory():
    memory = 6 * 10**9
    assert largest_map_side(memory) == int((memory / BYTES_PER_PIXEL) ** 0.5) // 2 * 2 == 3162
    check_map_size_memory(3162, memory_bytes=memory)
    with pytest.raises(InputError, match=r"--size 4000 asks for a 4000x4000 map, which needs about 9\.6 GB") as err:
        check_map_size_memory(4000, memory_bytes=memory)
    assert "give at most --size 3162" in str(err.value)
    with pytest.raises(InputError, match="^--npix 4000 .*use fewer pixels$"):
        check_map_size_memory(4000, flag="--npix", memory_bytes=memory, advice="use fewer pixels")


def test_output_path_refusals_name_the_flag(tmp_path):
    source = tmp_path / "in.fits"
    source.write_text("x")
    check_output_path(tmp_path / "out.fits", "-o", inputs=[source])
    with pytest.raises(InputError, match="^-o .* is the input .*would destroy the input"):
        check_output_path(source, "-o", inputs=[source])
    with pytest.raises(InputError, match="^--png .*is also -o"):
        check_output_path(tmp_path / "k.png", "--png", others=[("-o", tmp_path / "k.png")])
    with pytest.raises(InputError, match=r"^--png .*k\.jpg: expected a \.png file name"):
        check_output_path(tmp_path / "k.jpg", "--png", suffix=".png")
    with pytest.raises(InputError, match="^-o .* is an existing directory"):
        check_output_path(tmp_path, "-o")
    with pytest.raises(InputError, match="^-o .*the folder .*missing does not exist"):
        check_output_path(tmp_path / "missing" / "k.fits", "-o")
    with pytest.raises(InputError, match="^--out .* is an existing file"):
        check_output_path(source, "--out", folder=True)
    check_output_path(tmp_path / "new" / "deeper", "--out", folder=True)  # a new folder may need its parents
    with pytest.raises(InputError, match="^-o: give a file name"):
        check_output_path(Path(""), "-o")
    folder_input = tmp_path / "store"
    folder_input.mkdir()
    with pytest.raises(InputError, match="lies inside the input"):
        check_output_path(folder_input / "x.fits", "-o", inputs=[folder_input])


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_output_in_a_read_only_folder_is_refused(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(InputError, match="is not writable"):
            check_output_path(folder / "k.fits", "-o")
    finally:
        folder.chmod(0o755)


def test_nothing_is_written_into_the_installed_package():
    package = package_folder()
    assert (package / "__init__.py").is_file()
    with pytest.raises(InputError, match="shipped models' folder"):
        check_not_in_package(package / "models" / "mine", "--out")
    with pytest.raises(InputError, match="the miu2net package"):
        check_output_path(package / "k.fits", "-o")
    check_not_in_package(Path("/tmp/elsewhere"), "--out")


def test_new_model_stem_and_input_file(tmp_path):
    check_new_model_stem(tmp_path / "model", "--out")
    (tmp_path / "model.json").write_text("{}")
    for given in ("model", "model.safetensors", "model.json"):
        with pytest.raises(InputError, match=r"model\.json already exists"):
            check_new_model_stem(tmp_path / given, "--out")
    check_input_file(tmp_path / "model.json", "input")
    with pytest.raises(InputError, match="^input .*absent.fits: no such file"):
        check_input_file(tmp_path / "absent.fits", "input")
    with pytest.raises(InputError, match="is a directory; give a file"):
        check_input_file(tmp_path, "input")
