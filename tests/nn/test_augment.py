"""Augmentation by rotations and flips: the shear transforms as spin 2, so KS commutes with it."""

import numpy as np
import pytest
import torch

from miu2net.nn.augment import (
    RandomSymmetry,
    inverse,
    shear_signs,
    transform_raw,
    transform_sample,
    transform_scalar,
    transform_shear,
)
from miu2net.physics.operators import ks93_forward, ks93_inverse
from miu2net.sims.fields import gaussian_field

ELEMENTS = range(8)


def _kappa(n, seed=0, drop_nyquist=False):
    rng = np.random.default_rng(seed)
    kappa = gaussian_field((n, n), 1.0, lambda ell: 1e-9 * (ell / 1000.0) ** -1.0, rng)
    if drop_nyquist:  # even grids: the discrete KS kernel is not symmetric on the Nyquist row/column
        f = np.fft.fft2(kappa)
        f[n // 2, :] = 0
        f[:, n // 2] = 0
        kappa = np.fft.ifft2(f).real
    return kappa - kappa.mean()


@pytest.mark.parametrize("n, drop", [(33, False), (32, True)])
@pytest.mark.parametrize("k", ELEMENTS)
def test_ks_commutes_with_every_symmetry(k, n, drop):
    kappa = _kappa(n, seed=k, drop_nyquist=drop)
    g1, g2 = ks93_forward(kappa)
    t1, t2 = transform_shear(g1, g2, k)
    kappa_e, kappa_b = ks93_inverse(t1, t2)
    np.testing.assert_allclose(kappa_e, transform_scalar(kappa, k), atol=1e-12 * np.abs(kappa).max() * n,
                               err_msg=f"KS of the transformed shear is not the transformed kappa (element {k})")
    np.testing.assert_allclose(kappa_b, 0.0, atol=1e-12, err_msg="transformed E-mode shear acquired a B mode")


@pytest.mark.parametrize("k", [1, 3, 4, 5, 6])
def test_moving_shear_pixels_alone_is_wrong(k):
    """What the published scripts do (flip/rotate the shear maps like images) breaks the physics."""
    kappa = _kappa(33, seed=1)
    g1, g2 = ks93_forward(kappa)
    kappa_e, _ = ks93_inverse(transform_scalar(g1, k), transform_scalar(g2, k))
    assert np.abs(kappa_e - transform_scalar(kappa, k)).max() > 0.1 * np.abs(kappa).max()


def test_signs_and_group_structure():
    assert shear_signs(0) == (1, 1) and shear_signs(2) == (1, 1), "a half turn leaves shear unchanged"
    assert shear_signs(1) == (-1, -1) and shear_signs(3) == (-1, -1), "a quarter turn negates g1 and g2"
    assert shear_signs(4) == (1, -1), "a flip negates g2"
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((2, 8, 8))
    for k in ELEMENTS:
        back = transform_shear(*transform_shear(a, b, k), inverse(k))
        np.testing.assert_allclose(back[0], a)
        np.testing.assert_allclose(back[1], b)


def test_samples_raw_and_torch_agree():
    rng = np.random.default_rng(3)
    sample = {k: rng.standard_normal((8, 8)).astype(np.float32) for k in ("kappa", "g1", "g2", "mask", "noise")}
    sample["seed"] = 7
    raw = np.stack([sample["g1"], sample["g2"], sample["mask"], sample["noise"]])
    for k in ELEMENTS:
        out = transform_sample(sample, k)
        assert out["seed"] == 7
        np.testing.assert_allclose(out["kappa"], transform_scalar(sample["kappa"], k))
        t1, t2 = transform_shear(sample["g1"], sample["g2"], k)
        np.testing.assert_allclose(out["g1"], t1)
        np.testing.assert_allclose(out["g2"], t2)
        np.testing.assert_allclose(transform_raw(raw, k), np.stack([t1, t2, out["mask"], out["noise"]]))
        np.testing.assert_allclose(transform_raw(torch.from_numpy(raw), k).numpy(), transform_raw(raw, k))
    with pytest.raises(ValueError, match="spin-2"):
        transform_sample({"g1": sample["g1"]}, 1)


def test_random_symmetry_keeps_shape_of_rectangular_maps():
    torch.manual_seed(0)
    sample = {"kappa": np.zeros((6, 10)), "g1": np.zeros((6, 10)), "g2": np.zeros((6, 10))}
    for _ in range(20):
        assert RandomSymmetry()(sample)["kappa"].shape == (6, 10)
