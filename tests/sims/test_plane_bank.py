"""The plane bank: where it lives, its keys and seeds, atomic Zarr stores, the window deconvolution.

No N-body run here: the stores are written from a small synthetic :class:`PlaneSet`.
"""

from __future__ import annotations

import numpy as np
import pytest

from miu2net.config import NBodyConfig
from miu2net.errors import InputError
from miu2net.sims.nbody import PlaneSet
from miu2net.sims.plane_bank import (
    BANK_FORMAT,
    bank_key,
    bank_root,
    pool_seeds,
    read_planes,
    simulation_path,
    simulation_seeds,
    write_planes,
)

pytest.importorskip("zarr")


@pytest.fixture
def tiny_planes():
    """A PlaneSet of the shape a simulation writes: 2 snapshots x 3 axes of 16^2 float16 planes."""
    rng = np.random.default_rng(11)
    planes = (1.0 + 0.1 * rng.standard_normal((2, 3, 16, 16))).astype(np.float16)
    return PlaneSet(planes=planes, chi_edges=np.array([0.0, 96.0, 192.0, 288.0]),
                    slab_snapshot=np.array([0, 0, 1]), a_slab=np.array([0.97, 0.97, 0.93]), box_mpc_h=96.0,
                    cosmology={"Omega_m": 0.31, "sigma8": 0.81, "Omega_b": 0.049, "h": 0.68, "n_s": 0.97},
                    seed=11, info={"seconds": 1.5, "halos_restored": np.array([3, 1, 0])})


def test_plane_bank_round_trip_and_corruption(tmp_path, tiny_planes):
    from miu2net.sims.plane_bank import read_planes, write_planes

    path = write_planes(tmp_path / "sim-11.zarr", tiny_planes)
    back = read_planes(path)
    np.testing.assert_array_equal(back.planes, tiny_planes.planes)
    np.testing.assert_allclose(back.chi_edges, tiny_planes.chi_edges)
    assert back.cosmology == tiny_planes.cosmology
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temporary left
    (path / "zarr.json").write_text("{not json")
    with pytest.raises(InputError, match="cannot read the lens planes"):
        read_planes(path)


def test_simulation_pools_are_disjoint():
    from miu2net.sims.plane_bank import pool_seeds

    pools = pool_seeds(0, 50, 50)
    train, test = ({s % 2**31 for s in pools[k]} for k in ("train", "test"))
    assert not train & test and len(train) == 50 and len(test) == 50


def test_a_second_writer_keeps_the_first_copy(tmp_path, tiny_planes):
    from miu2net.sims.plane_bank import read_planes, write_planes

    path = write_planes(tmp_path / "sim-11.zarr", tiny_planes)
    assert write_planes(path, tiny_planes) == path  # the race's loser: no error, one copy, no temporary
    assert [p.name for p in tmp_path.iterdir()] == ["sim-11.zarr"]
    np.testing.assert_array_equal(read_planes(path).planes, tiny_planes.planes)


def test_deconvolution_restores_the_cic_and_bilinear_windows():
    from miu2net.sims.plane_bank import deconvolved

    n, f = 64, 6 / 64
    x = np.arange(n)
    plane = (1 + 0.1 * np.cos(2 * np.pi * f * x))[None, :] * np.ones((n, 1))
    out = deconvolved(plane[None].astype(np.float16))[0]
    amplitude = np.abs(np.fft.rfft(out[0] - out[0].mean()))[6] * 2 / n
    assert amplitude == pytest.approx(0.1 / np.sinc(f) ** 4, rel=2e-3)
    assert out.mean() == pytest.approx(plane.mean(), rel=1e-3)


def test_bank_root_prefers_the_setting_then_the_environment_then_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MIU2NET_NBODY_BANK", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert bank_root(str(tmp_path / "mine")) == tmp_path / "mine"
    assert bank_root(None) == tmp_path / "env"
    monkeypatch.delenv("MIU2NET_NBODY_BANK")
    assert bank_root(None) == tmp_path / "xdg" / "miu2net" / "nbody"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert bank_root(None) == tmp_path / "home" / ".cache" / "miu2net" / "nbody"


def test_bank_key_changes_with_the_settings_that_shape_the_planes():
    base = NBodyConfig(box_mpc_h=96.0, n_mesh=24, plane_pixels=64)
    key = bank_key(base, 1.0)
    assert key.startswith("L96-N24-P64-z1-") and key == bank_key(NBodyConfig(box_mpc_h=96.0, n_mesh=24, plane_pixels=64), 1.0)
    assert bank_key(base, 1.5) != key, "a farther source redshift needs more slabs"
    assert bank_key(NBodyConfig(box_mpc_h=96.0, n_mesh=32, plane_pixels=64), 1.0) != key
    assert bank_key(base.model_copy(update={"max_dlna": base.max_dlna / 2}), 1.0) != key
    assert simulation_path(tmp := __import__("pathlib").Path("/bank"), key, 7) == tmp / key / "sim-7.zarr"


def test_simulation_seeds_are_reproducible_and_the_pool_is_checked():
    a = simulation_seeds(3, "train", 5)
    assert a == simulation_seeds(3, "train", 5) and len(set(a)) == 5
    assert a[:3] == simulation_seeds(3, "train", 3), "a larger pool extends a smaller one"
    assert a != simulation_seeds(4, "train", 5)
    assert not set(a) & set(simulation_seeds(3, "test", 5))
    assert all(0 <= s < 2**32 for s in a)
    with pytest.raises(InputError, match="unknown simulation pool 'val'"):
        simulation_seeds(3, "val", 2)
    assert set(pool_seeds(3, 5, 2)) == {"train", "test"}


def test_a_store_of_another_format_or_with_non_finite_planes_is_refused(tmp_path, tiny_planes):
    import zarr

    path = write_planes(tmp_path / "sim-11.zarr", tiny_planes)
    group = zarr.open_group(str(path), mode="r+")
    group.attrs["format"] = BANK_FORMAT - 1
    with pytest.raises(InputError, match=f"format {BANK_FORMAT - 1}, expected {BANK_FORMAT}"):
        read_planes(path)
    group.attrs["format"] = BANK_FORMAT
    group["planes"][0, 0, 0, 0] = np.nan
    with pytest.raises(InputError, match="non-finite"):
        read_planes(path)
    with pytest.raises(InputError, match="cannot read the lens planes"):
        read_planes(tmp_path / "absent.zarr")


def test_deconvolution_leaves_a_constant_plane_and_caps_the_gain():
    from miu2net.sims.plane_bank import deconvolved

    flat = np.full((1, 1, 32, 32), 1.0, dtype=np.float16)
    np.testing.assert_allclose(deconvolved(flat), 1.0, atol=1e-6)
    nyquist = (1 + 0.1 * np.cos(np.pi * np.arange(32)))[None, :] * np.ones((32, 1))
    out = deconvolved(nyquist[None, None].astype(np.float32), max_gain=4.0)[0, 0]
    amplitude = np.abs(np.fft.rfft(out[0] - out[0].mean()))[16] / 32
    assert amplitude == pytest.approx(0.1 * 4.0, rel=1e-3), "sinc^4 at Nyquist is 0.16: the gain stops at 4"
