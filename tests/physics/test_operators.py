"""KS93 operators against analytic identities (docs/conventions.md)."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from miu2net.physics.operators import ks93_forward, ks93_inverse, rotate_shear


def zero_mean_field(rng, shape):
    field = rng.standard_normal(shape)
    return field - field.mean()


@pytest.mark.parametrize("shape", [(64, 64), (63, 63), (32, 48)])
def test_forward_then_inverse_returns_kappa(rng, shape):
    kappa = zero_mean_field(rng, shape)
    kappa_e, kappa_b = ks93_inverse(*ks93_forward(kappa))
    np.testing.assert_allclose(kappa_e, kappa, atol=1e-10, err_msg="KS inverse of KS forward is not the identity")
    np.testing.assert_allclose(kappa_b, 0.0, atol=1e-10, err_msg="shear of a real kappa has a B mode")


def test_mean_is_the_unknown_mass_sheet(rng):
    kappa = zero_mean_field(rng, (32, 32))
    g1, g2 = ks93_forward(kappa + 0.3)
    np.testing.assert_allclose(ks93_inverse(g1, g2)[0], kappa, atol=1e-10, err_msg="a mass sheet made shear")


def test_rotation_by_45_degrees_swaps_e_and_b(rng):
    kappa = zero_mean_field(rng, (48, 48))
    g1, g2 = ks93_forward(kappa)
    r1, r2 = rotate_shear(g1, g2, np.pi / 4)
    kappa_e, kappa_b = ks93_inverse(r1, r2)
    np.testing.assert_allclose(kappa_e, 0.0, atol=1e-10, err_msg="45-degree-rotated E shear kept an E mode")
    np.testing.assert_allclose(kappa_b, kappa, atol=1e-10, err_msg="45-degree rotation did not move E into B")


def test_sign_convention_of_a_single_mode():
    # A kappa mode along x (l2 = 0) makes D = 1: gamma1 = kappa, gamma2 = 0 (stretch along x is
    # tangential about the trough; docs/conventions.md: D(l) = (l1^2 - l2^2 + 2i l1 l2)/|l|^2).
    n = 32
    x = np.arange(n)
    kappa = np.cos(2 * np.pi * 3 * x / n)[None, :].repeat(n, axis=0)
    g1, g2 = ks93_forward(kappa)
    np.testing.assert_allclose(g1, kappa, atol=1e-12, err_msg="mode along x: gamma1 must equal kappa")
    np.testing.assert_allclose(g2, 0.0, atol=1e-12)
    # Along the diagonal (l1 = l2): D = i, so gamma2 = kappa.
    kappa_d = np.cos(2 * np.pi * 3 * (x[None, :] + x[:, None]) / n)
    g1, g2 = ks93_forward(kappa_d)
    np.testing.assert_allclose(g1, 0.0, atol=1e-12)
    np.testing.assert_allclose(g2, kappa_d, atol=1e-12, err_msg="diagonal mode: gamma2 must equal kappa")


maps = arrays(np.float64, (16, 16), elements=st.floats(-1, 1, allow_nan=False, allow_subnormal=False))


@settings(max_examples=40, deadline=None)
@given(a=maps, b=maps, alpha=st.floats(-3, 3), beta=st.floats(-3, 3), pad=st.booleans())
def test_linearity(a, b, alpha, beta, pad):
    fa, fb = ks93_forward(a, pad=pad), ks93_forward(b, pad=pad)
    f_sum = ks93_forward(alpha * a + beta * b, pad=pad)
    for i in range(2):
        np.testing.assert_allclose(f_sum[i], alpha * fa[i] + beta * fb[i], atol=1e-9)
    ia, ib = ks93_inverse(a, b, pad=pad), ks93_inverse(b, a, pad=pad)
    i_sum = ks93_inverse(alpha * a + beta * b, alpha * b + beta * a, pad=pad)
    for i in range(2):
        np.testing.assert_allclose(i_sum[i], alpha * ia[i] + beta * ib[i], atol=1e-9)


@pytest.mark.parametrize("pad", [False, True])
def test_torch_matches_numpy(rng, pad):
    kappa = rng.standard_normal((3, 40, 40))  # leading batch axis
    g_np = ks93_forward(kappa, pad=pad)
    g_t = ks93_forward(torch.from_numpy(kappa), pad=pad)
    for a, b in zip(g_np, g_t):
        np.testing.assert_allclose(b.numpy(), a, atol=1e-12)
    k_np = ks93_inverse(*g_np, pad=pad)
    k_t = ks93_inverse(*g_t, pad=pad)
    for a, b in zip(k_np, k_t):
        np.testing.assert_allclose(b.numpy(), a, atol=1e-12)
    # float32 tensors stay float32 and differentiable
    k32 = torch.from_numpy(kappa.astype(np.float32)).requires_grad_()
    g1, g2 = ks93_forward(k32, pad=pad)
    assert g1.dtype == torch.float32
    (g1.square().sum() + g2.square().sum()).backward()
    assert k32.grad is not None and torch.isfinite(k32.grad).all()


def test_padding_removes_wraparound():
    # A compact mass at the left edge: without padding its shear wraps to the right edge.
    n = 64
    kappa = np.zeros((n, n))
    kappa[30:34, 0:3] = 1.0
    g_periodic = np.hypot(*ks93_forward(kappa, pad=False))[:, -4:].max()
    g_padded = np.hypot(*ks93_forward(kappa, pad=True))[:, -4:].max()
    near = np.hypot(*ks93_forward(kappa, pad=True))[:, 4:8].max()
    assert g_padded < 0.2 * g_periodic, "padding did not suppress the wrapped shear at the far edge"
    assert near > 10 * g_padded
