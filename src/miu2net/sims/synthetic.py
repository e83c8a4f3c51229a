"""A small synthetic data set for tests and smoke runs: Gaussian κ of a power law, its shear, noise, star holes.

Cheaper and simpler than the survey simulator (:mod:`miu2net.sims.simulate`): no pyccl, no halos; the
same stacked-array layout as a store's samples, so the network layer can train on it directly.
"""

from __future__ import annotations

import numpy as np

from miu2net.physics.operators import ks93_forward
from miu2net.physics.shear import add_pixel_noise, pixel_noise_sigma, reduced_shear
from miu2net.sims.fields import gaussian_field


def synthetic_maps(n: int, size: int, *, pixel_arcmin: float = 0.82, n_gal_arcmin2: float = 50.0,
                   shape_noise_sigma: float = 0.4, masked_fraction: float = 0.1, amplitude: float = 2e-9,
                   seed: int = 0) -> dict[str, np.ndarray]:
    """A small synthetic set for tests and smoke runs: Gaussian κ, its shear, noise and star masks.

    κ is a Gaussian field of :math:`C_\\ell = A (\\ell/1000)^{-1.2}` (periodic, one map per sample),
    the shear is its zero-padded KS93 forward transform, reduced by :math:`1-\\kappa`; the noise is the
    uniform pixel noise of the survey numbers; masks are circular holes covering about ``masked_fraction``.
    Returns stacked float32 arrays with the keys of a sample (plus the noiseless shear).
    """
    rng = np.random.default_rng(seed)
    sigma = pixel_noise_sigma(shape_noise_sigma=shape_noise_sigma, n_gal_arcmin2=n_gal_arcmin2,
                              pixel_arcmin=pixel_arcmin)
    yy, xx = np.mgrid[:size, :size]
    out: dict[str, list] = {k: [] for k in ("kappa", "g1", "g2", "g1_noiseless", "g2_noiseless", "mask", "noise")}
    for _ in range(n):
        kappa = gaussian_field((size, size), pixel_arcmin, lambda ell: amplitude * (ell / 1000.0) ** -1.2, rng)
        gamma1, gamma2 = ks93_forward(kappa, pad=True)
        g1, g2 = reduced_shear(gamma1, gamma2, kappa)
        mask = np.ones((size, size))
        while 1.0 - mask.mean() < masked_fraction:
            cy, cx = rng.uniform(0, size, 2)
            r = rng.uniform(0.5, max(1.0, 0.06 * size))
            mask[(yy - cy) ** 2 + (xx - cx) ** 2 < r**2] = 0.0
        n1, n2 = add_pixel_noise(rng, g1, g2, sigma)
        for key, value in (("kappa", kappa), ("g1", n1 * mask), ("g2", n2 * mask), ("g1_noiseless", g1),
                           ("g2_noiseless", g2), ("mask", mask), ("noise", sigma * mask)):
            out[key].append(value)
    return {k: np.asarray(v, dtype=np.float32) for k, v in out.items()}
