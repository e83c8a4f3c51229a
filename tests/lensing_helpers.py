"""Truth maps shared by the method tests: an analytic projected NFW map (independent of
miu2net.sims.halos) and a Gaussian field cut from a larger box."""

import numpy as np

from miu2net.physics.operators import ks93_forward
from miu2net.sims.fields import gaussian_field


def nfw_kappa(shape, centre, r_s_pix, kappa_s, oversample=4):
    """Projected NFW convergence (Bartelmann 1996), averaged over sub-pixels: 2 kappa_s (1 - F(x)) / (x^2 - 1)."""
    offsets = (np.arange(oversample) + 0.5) / oversample - 0.5
    y = np.arange(shape[0])[:, None, None, None] + offsets[None, None, :, None] - centre[0]
    x = np.arange(shape[1])[None, :, None, None] + offsets[None, None, None, :] - centre[1]
    r = np.hypot(y, x) / r_s_pix
    f = np.ones_like(r)
    inner, outer = r < 1 - 1e-6, r > 1 + 1e-6
    f[inner] = np.arccosh(1 / r[inner]) / np.sqrt(1 - r[inner] ** 2)
    f[outer] = np.arccos(1 / r[outer]) / np.sqrt(r[outer] ** 2 - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = np.where(inner | outer, 2 * kappa_s * (1 - f) / (r**2 - 1), 2 * kappa_s / 3)
    return kappa.mean(axis=(2, 3))


def cut_field(cl, seed: int, n: int = 256, box: int = 4, *, pixel_arcmin: float = 0.41):
    """A Gaussian kappa map cut from a box ``box`` times larger, and its shear (no periodic shear)."""
    rng = np.random.default_rng(seed)
    big = gaussian_field((box * n, box * n), pixel_arcmin, cl, rng)
    g1, g2 = ks93_forward(big)
    cut = slice((box - 1) * n // 2, (box + 1) * n // 2)
    return big[cut, cut], g1[cut, cut], g2[cut, cut], rng


def random_raw(batch, size, seed=0):
    """A batch of network inputs ``[batch, 4, size, size]`` (g1, g2, mask, noise) of random shear with 10 %
    of pixels masked and a noise of 0.1: shapes and wiring, not physics."""
    import torch

    from miu2net.nn.base import raw_from_arrays

    rng = np.random.default_rng(seed)
    maps = []
    for _ in range(batch):
        mask = (rng.random((size, size)) > 0.1).astype(float)
        g1, g2 = 0.1 * rng.standard_normal((2, size, size))
        maps.append(raw_from_arrays(g1, g2, mask, np.full((size, size), 0.1)))
    return torch.from_numpy(np.stack(maps))
