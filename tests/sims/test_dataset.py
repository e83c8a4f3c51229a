"""The Zarr dataset: layout, seeds, lazy reading, determinism, kill-and-resume, own kappa maps, the CLI commands."""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

from miu2net import __version__
from miu2net.config import preset, save_config
from miu2net.errors import InputError
from miu2net.sims.dataset import (
    MAP_FIELDS,
    SimDataset,
    completion,
    create_dataset,
    list_kappa_inputs,
    resample_kappa,
    sample_seeds,
)
from miu2net.sims.simulate import simulate_sample


def _config(n: int = 12, n_test: int = 4, size: int = 32, **sim):
    return preset("csst-small").updated(survey={"map_size": size}, sim={"n_samples": n, "n_test": n_test, **sim})


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("ds") / "data.zarr"
    config = _config()
    create_dataset(path, config, scheduler="sync", progress=False)
    return path, config


def _chunk_bytes(path: Path) -> dict[str, bytes]:
    """Every chunk file of a store (the zarr.json metadata, which holds a run id and a date, excluded)."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file() and p.name != "zarr.json"}


def test_layout_splits_and_attributes(store):
    path, config = store
    root = zarr.open_group(str(path), mode="r")
    meta = root.attrs["miu2net"]
    assert meta["version"] == __version__ and meta["config"] == config.to_dict()
    assert meta["splits"] == {"train": 10, "val": 2, "test": 4}, "train:val must be 5:1"
    for split, n in meta["splits"].items():
        for name in MAP_FIELDS:
            arr = root[split][name]
            assert arr.shape == (n, 32, 32) and arr.chunks == (1, 32, 32), f"{split}/{name} layout"
        seeds = root[split]["seed"][:]
        assert list(seeds) == root[split].attrs["seeds"] == list(sample_seeds(config, split))
    assert completion(path) == {"train": (10, 10), "val": (2, 2), "test": (4, 4)}


def test_test_seeds_are_held_out_and_stable():
    config = _config(n=600, n_test=100)
    train, val, test = (set(sample_seeds(config, s)) for s in ("train", "val", "test"))
    assert not (test & train) and not (test & val) and not (train & val), "splits share seeds"
    bigger = _config(n=1200, n_test=100)
    assert list(sample_seeds(bigger, "test")) == list(sample_seeds(config, "test")), "test set changed with n_samples"
    assert list(sample_seeds(bigger, "train")[:100]) == list(sample_seeds(config, "train")[:100])


def test_reader_is_lazy_random_access_and_picklable(store):
    path, config = store
    data = SimDataset(path, "val")
    assert len(data) == 2 and data.pixel_arcmin == 0.82 and data.config == config
    sample = data[-1]
    expected = simulate_sample(config, data.info(1)["seed"])
    for name in MAP_FIELDS:
        assert sample[name].dtype == np.float32 and sample[name].tobytes() == expected[name].tobytes(), name
    clone = pickle.loads(pickle.dumps(data))
    np.testing.assert_array_equal(clone[0]["kappa"], data[0]["kappa"], err_msg="pickled reader reads differently")
    only = SimDataset(path, "test", fields=("g1", "mask"))
    assert set(only[3]) == {"g1", "mask"}
    with pytest.raises(IndexError):
        data[2]
    with pytest.raises(InputError, match="unknown split"):
        SimDataset(path, "training")


def test_reader_works_in_dataloader_workers(store):
    torch = pytest.importorskip("torch")
    path, _ = store
    loader = torch.utils.data.DataLoader(SimDataset(path, "train", fields=("kappa",)), batch_size=5, num_workers=2)
    batches = [b["kappa"] for b in loader]
    assert [tuple(b.shape) for b in batches] == [(5, 32, 32), (5, 32, 32)]


def test_same_config_same_bytes(store, tmp_path):
    path, config = store
    again = tmp_path / "again.zarr"
    create_dataset(again, config, scheduler="sync", progress=False)
    assert _chunk_bytes(again) == _chunk_bytes(path), "two runs of the same configuration differ"


def test_rerun_skips_and_other_config_is_refused(store):
    path, config = store
    report = create_dataset(path, config, scheduler="sync", progress=False)
    assert report.generated == 0 and report.already_done == 16
    with pytest.raises(InputError, match="sim.seed"):
        create_dataset(path, config.updated(sim={"seed": 1}), scheduler="sync", progress=False)


def test_resume_deletes_the_partial_files_of_a_killed_write(store, tmp_path):
    path, config = store
    copy = tmp_path / "copy.zarr"
    shutil.copytree(path, copy)
    debris = copy / "train" / "kappa" / "c" / "3" / "0" / "0.0123abcd.partial"
    debris.write_bytes(b"half a chunk")
    report = create_dataset(copy, config, scheduler="sync", progress=False)
    assert report.generated == 0 and not debris.exists(), "a killed write's temporary file survived the resume"
    assert _chunk_bytes(copy) == _chunk_bytes(path)


def test_existing_foreign_folder_is_refused(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not a miu2net dataset"):
        create_dataset(tmp_path / "x", _config(), scheduler="sync", progress=False)


_RUNNER = """
import sys
from miu2net.config import Config
from miu2net.sims.dataset import create_dataset

if __name__ == "__main__":
    config = Config.model_validate_json(open(sys.argv[2]).read())
    scheduler = None if sys.argv[3] == "local" else sys.argv[3]
    create_dataset(sys.argv[1], config, scheduler=scheduler, workers=2, batch_size=1, progress=False)
"""


def _kill_midway(tmp_path: Path, config, scheduler: str) -> Path:
    """Start a generation in a subprocess (own process group), kill the group once some samples are done."""
    out = tmp_path / f"killed-{scheduler}.zarr"
    (tmp_path / "cfg.json").write_text(config.to_json())
    (tmp_path / "runner.py").write_text(_RUNNER)
    proc = subprocess.Popen([sys.executable, str(tmp_path / "runner.py"), str(out), str(tmp_path / "cfg.json"), scheduler],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                done = sum(d for d, _ in completion(out).values())
            except Exception:  # not laid out yet
                done = 0
            if done >= 3:
                break
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return out


@pytest.mark.parametrize("scheduler", ["sync", pytest.param("local", marks=pytest.mark.slow)])
def test_kill_and_resume_gives_the_uninterrupted_result(tmp_path, scheduler):
    config = _config(n=48, n_test=12, size=64)
    reference = tmp_path / "reference.zarr"
    create_dataset(reference, config, scheduler="sync", progress=False)
    killed = _kill_midway(tmp_path, config, scheduler)
    done, total = (sum(v[i] for v in completion(killed).values()) for i in (0, 1))
    assert 3 <= done < total, f"the run was not interrupted midway ({done}/{total} done)"
    report = create_dataset(killed, config, scheduler="sync", progress=False)
    assert report.generated == total - done, "resume regenerated samples that were done (or missed some)"
    assert completion(killed) == completion(reference)
    assert _chunk_bytes(killed) == _chunk_bytes(reference), "resumed store differs from an uninterrupted run"


def test_dask_local_cluster_matches_sync(tmp_path, store):
    path, config = store
    out = tmp_path / "dask.zarr"
    report = create_dataset(out, config, workers=2, batch_size=2, progress=False)
    assert report.generated == 16
    assert _chunk_bytes(out) == _chunk_bytes(path), "Dask workers wrote other bytes than a serial run"


# ---- own convergence maps -----------------------------------------------------------------------


def test_resample_kappa_block_average_and_zoom():
    rng = np.random.default_rng(0)
    fine = rng.standard_normal((64, 64))
    np.testing.assert_allclose(resample_kappa(fine, 0.41, 0.82), fine.reshape(32, 2, 32, 2).mean(axis=(1, 3)),
                               err_msg="integer coarsening must be a block average")
    out = resample_kappa(fine, 0.41, 1.0)
    assert out.shape == (26, 26)  # 64 x 0.41' = 26.2'
    np.testing.assert_allclose(out.mean(), fine.mean(), atol=0.05)
    np.testing.assert_array_equal(resample_kappa(fine, 0.82, 0.82), fine)


def test_kappa_from_folder(tmp_path):
    from astropy.io import fits

    from miu2net.io import default_wcs

    rng = np.random.default_rng(1)
    folder = tmp_path / "maps"
    folder.mkdir()
    maps = [0.02 * rng.standard_normal((64, 64)) for _ in range(5)]
    for i, m in enumerate(maps[:3]):  # 0.41' pixels by PIXSCALE: block-averaged 2 x 2 to 0.82'
        hdu = fits.PrimaryHDU(m)
        hdu.header["PIXSCALE"] = 0.41
        hdu.writeto(folder / f"k{i}.fits")
    hdu = fits.PrimaryHDU(maps[3], header=default_wcs((64, 64), 0.41).to_header())  # scale from the WCS
    hdu.writeto(folder / "k3.fits")
    np.save(folder / "k4.npy", maps[4][:40, :40])  # smaller than the map after resampling: padded and masked
    with pytest.raises(InputError, match="pixel scale"):
        list_kappa_inputs(folder)  # the .npy file has none
    config = _config(n=4, n_test=1, size=32)
    out = tmp_path / "own.zarr"
    with pytest.raises(InputError, match="no such directory"):
        create_dataset(out, config, kappa_from=tmp_path / "nowhere", scheduler="sync", progress=False)
    # With the option (which then applies to every file) the .npy map is usable.
    report = create_dataset(out, config, kappa_from=folder, kappa_pixel_arcmin=0.41, scheduler="sync", progress=False)
    assert report.splits == {"train": 3, "val": 1, "test": 1}
    train = SimDataset(out, "train")
    for i in range(3):
        expected = maps[i].reshape(32, 2, 32, 2).mean(axis=(1, 3))
        np.testing.assert_allclose(train[i]["kappa"], expected, rtol=1e-6, atol=1e-8,
                                   err_msg=f"map {i} not block-averaged to the survey pixel")
    last = SimDataset(out, "test")[0]
    assert last["kappa"].shape == (32, 32)
    padded = np.ones((32, 32), bool)
    padded[6:26, 6:26] = False  # the 20 x 20 resampled map sits in the centre
    assert np.all(last["mask"][padded] == 0), "padding around a small input map must be masked"
    assert np.all(last["kappa"][padded] == 0)


def test_kappa_from_pixel_scales_and_stacks(tmp_path):
    """Pixel scale from a celestial WCS or PIXSCALE; a 3-D array is a stack of maps; none at all is an error."""
    from astropy.io import fits

    from miu2net.io import default_wcs

    folder = tmp_path / "wcs"
    folder.mkdir()
    fits.PrimaryHDU(np.zeros((16, 16)), header=default_wcs((16, 16), 0.5).to_header()).writeto(folder / "a.fits")
    stack = fits.PrimaryHDU(np.zeros((3, 16, 16)))
    stack.header["PIXSCALE"] = 0.25
    stack.writeto(folder / "b.fits")
    inputs = list_kappa_inputs(folder)
    assert [(Path(i.path).name, i.plane) for i in inputs] == [("a.fits", -1), ("b.fits", 0), ("b.fits", 1), ("b.fits", 2)]
    np.testing.assert_allclose([i.pixel_arcmin for i in inputs], [0.5, 0.25, 0.25, 0.25], err_msg="input pixel scales")
    fits.PrimaryHDU(np.zeros((16, 16))).writeto(folder / "c.fits")
    with pytest.raises(InputError, match="c.fits: no pixel scale"):
        list_kappa_inputs(folder)


# ---- CLI command functions ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def app():
    typer = pytest.importorskip("typer")
    from miu2net.cli.sims import show_command, simulate_command

    application = typer.Typer()
    application.command("simulate")(simulate_command)
    application.command("show")(show_command)
    return application


def test_cli_simulate_and_show(app, tmp_path):
    from typer.testing import CliRunner

    runner = CliRunner()
    cfg = save_config(_config(size=32), tmp_path / "c.yaml")
    out = tmp_path / "cli.zarr"
    res = runner.invoke(app, ["simulate", "--preset", "csst-small", "--config", str(cfg), "--n", "6", "--n-test", "2",
                              "--out", str(out), "--scheduler", "sync", "--seed", "5"])
    assert res.exit_code == 0, res.output + repr(res.exception)
    data = SimDataset(out, "train")
    assert len(data) == 5 and data.config.sim.seed == 5
    png = tmp_path / "s.png"
    res = runner.invoke(app, ["show", str(out), "--index", "1", "--split", "test", "-o", str(png)])
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert png.stat().st_size > 10_000


@pytest.mark.parametrize("args, message", [
    (["simulate", "--preset", "hsc", "--out", "x.zarr"], "unknown preset"),
    (["simulate", "--config", "missing.toml", "--out", "x.zarr"], "no such configuration file"),
    (["simulate", "--kappa-from", "no/such/dir", "--out", "x.zarr"], "no such directory"),
    (["show", "no/such.zarr"], "no such dataset"),
])
def test_cli_bad_input_raises_input_error(app, tmp_path, args, message, monkeypatch):
    from typer.testing import CliRunner

    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, args)
    assert isinstance(res.exception, InputError) and message in str(res.exception), repr(res.exception)
