"""An analytic projected NFW convergence map, independent of miu2net.sims.halos, for method tests."""

import numpy as np


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
