"""Wide-field tiling: mass sheets matched, tiles feathered, any method, any Dask scheduler, streamed in batches."""

from __future__ import annotations

import numpy as np
import pytest
from lensing_helpers import cut_field

from miu2net.errors import InputError
from miu2net.maps import KappaMap, ShearMap
from miu2net.methods import reconstruct
from miu2net.physics.wiener import signal_power
from miu2net.physics.masks import survey_mask
from miu2net.physics.shear import pixel_noise_sigma
from miu2net.tiling import reconstruct_tiled

PIXEL = 0.82


def sheet_shifted(shear: ShearMap) -> KappaMap:
    """A stand-in method that returns the tile's 'truth' (carried in g1) plus its own random mass sheet."""
    offset = float(np.random.default_rng(int(1e6 * abs(shear.g1[0, 0])) + shear.shape[0]).normal(0, 0.1))
    return KappaMap(kappa_e=shear.g1 + offset, kappa_b=shear.g2.copy(), pixel_arcmin=shear.pixel_arcmin,
                    meta={"method": "stand-in"})


@pytest.fixture(scope="module")
def smooth_truth():
    rng = np.random.default_rng(3)
    n = 200
    y, x = np.mgrid[0:n, 0:n] / n
    truth = 0.05 * np.sin(2 * np.pi * x) * np.cos(3 * np.pi * y) + 0.01 * rng.standard_normal((n, n))
    return ShearMap(truth, np.zeros((n, n)), PIXEL, mask=np.ones((n, n)))


@pytest.mark.parametrize("batch", [None, 1, 3])
def test_mass_sheets_are_matched_whatever_the_batching(smooth_truth, batch):
    """Tiles that are exact up to their own constant blend back into the truth up to one global constant:
    the least-squares sheet matching removes every step, and folding tiles in batches changes nothing."""
    out = reconstruct_tiled(smooth_truth, sheet_shifted, tile=80, overlap=24, batch=batch)
    diff = out.kappa_e - smooth_truth.g1
    np.testing.assert_allclose(diff, diff.mean(), atol=1e-12, err_msg="steps remain between tiles")
    assert out.meta["tiling"]["n_tiles"] == 16


@pytest.mark.parametrize("scheduler", ["threads", "synchronous", "processes"])
def test_local_schedulers_give_the_same_map(smooth_truth, scheduler):
    ref = reconstruct_tiled(smooth_truth, sheet_shifted, tile=80, overlap=24, scheduler="synchronous")
    out = reconstruct_tiled(smooth_truth, sheet_shifted, tile=80, overlap=24, scheduler=scheduler)
    np.testing.assert_array_equal(out.kappa_e, ref.kappa_e, err_msg=f"scheduler {scheduler} differs")
    assert out.meta["tiling"]["scheduler"] == scheduler


def test_distributed_cluster_address(smooth_truth):
    """``scheduler`` as the address of a Dask distributed scheduler runs the tiles on that cluster."""
    distributed = pytest.importorskip("distributed")
    ref = reconstruct_tiled(smooth_truth, sheet_shifted, tile=80, overlap=24, scheduler="synchronous")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        out = reconstruct_tiled(smooth_truth, sheet_shifted, tile=80, overlap=24, scheduler=cluster.scheduler_address)
    np.testing.assert_allclose(out.kappa_e, ref.kappa_e, atol=1e-14, err_msg="cluster result differs")


@pytest.fixture(scope="module")
def gaussian_observation():
    cl = signal_power(cl_kappa=None, z_source=None, nz=None)[0]
    kappa, g1, g2, rng = cut_field(cl, 5, n=256, box=2, pixel_arcmin=PIXEL)
    mask = survey_mask((256, 256), rng, target_fraction=0.15, pixel_arcmin=PIXEL)
    sigma = pixel_noise_sigma(shape_noise_sigma=0.4, n_gal_arcmin2=50.0, pixel_arcmin=PIXEL)
    noise = sigma * rng.standard_normal((2, 256, 256))
    shear = ShearMap((g1 + noise[0]) * mask, (g2 + noise[1]) * mask, PIXEL, mask=mask, noise=np.full((256, 256), sigma))
    return kappa, shear


@pytest.mark.parametrize("method", ["ks", "wiener", "ksplus", "sparse", "mcalens"])
def test_every_method_tiles_like_the_whole_map(gaussian_observation, method):
    """Every classical method runs in tiles (128², overlap 64) and gives the whole-map result in the
    interior up to the non-local tails the tiles cannot see: same RMSE against the truth within 5 %."""
    kappa, shear = gaussian_observation
    whole = reconstruct(shear, method)
    tiled = reconstruct_tiled(shear, lambda s: reconstruct(s, method), tile=128, overlap=64)
    inner = (slice(32, -32), slice(32, -32))

    def err(k):
        a, b = k[inner], kappa[inner]
        return np.sqrt(np.mean(((a - a.mean()) - (b - b.mean())) ** 2))

    print(f"{method}: interior RMSE whole {err(whole.kappa_e):.5f}, tiled {err(tiled.kappa_e):.5f}")
    assert err(tiled.kappa_e) < 1.05 * err(whole.kappa_e), f"{method}: tiling costs more than 5 % in RMSE"
    assert tiled.meta["tiling"]["n_tiles"] == 9 and tiled.meta["method"] == method


def test_bad_scheduler_and_batch(smooth_truth):
    with pytest.raises(InputError, match="scheduler"):
        reconstruct_tiled(smooth_truth, sheet_shifted, tile=80, overlap=24, scheduler="gpu please")
    with pytest.raises(InputError, match="batch"):
        reconstruct_tiled(smooth_truth, sheet_shifted, tile=80, overlap=24, batch=0)
