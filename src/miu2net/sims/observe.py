"""Observe a convergence map as a survey would: reduced shear plus pixel shape noise (and a mask).

Used to compare methods on a known truth (e.g. a projected N-body cluster) outside the dataset path.
"""

from __future__ import annotations

import numpy as np

from miu2net.maps import ShearMap
from miu2net.physics.operators import ks93_forward
from miu2net.physics.shear import add_pixel_noise, pixel_noise_sigma, reduced_shear


def observe(
    kappa: np.ndarray,
    *,
    pixel_arcmin: float,
    rng: np.random.Generator,
    n_gal_arcmin2: float = 50.0,
    shape_noise_sigma: float = 0.4,
    mask: np.ndarray | None = None,
) -> ShearMap:
    """Noisy reduced shear of ``kappa``: zero-padded KS forward, g = gamma/(1 - kappa), Gaussian pixel noise
    of per-component std (sigma_e/sqrt 2)/sqrt(n_gal A_pix); masked pixels hold 0."""
    gamma1, gamma2 = ks93_forward(kappa, pad=True)
    g1, g2 = reduced_shear(gamma1, gamma2, kappa)
    sigma = pixel_noise_sigma(shape_noise_sigma=shape_noise_sigma, n_gal_arcmin2=n_gal_arcmin2,
                              pixel_arcmin=pixel_arcmin)
    g1, g2 = add_pixel_noise(rng, g1, g2, sigma)
    mask = np.ones_like(kappa) if mask is None else mask
    return ShearMap(g1=g1 * mask, g2=g2 * mask, mask=mask, noise=np.full(kappa.shape, sigma),
                    pixel_arcmin=pixel_arcmin)


def compare_methods_on_truth(
    truth: np.ndarray, *, pixel_arcmin: float, methods: list[str], n_gal_arcmin2: float = 50.0, seed: int = 0
) -> dict[str, np.ndarray]:
    """``{"truth": truth, method: kappa_E, ...}`` from one noisy observation of ``truth``.

    A method that cannot run on this input raises InputError naming it.
    """
    from miu2net.errors import InputError
    from miu2net.methods import reconstruct

    shear = observe(truth, pixel_arcmin=pixel_arcmin, rng=np.random.default_rng(seed), n_gal_arcmin2=n_gal_arcmin2)
    maps: dict[str, np.ndarray] = {"truth": truth}
    for name in (m.strip() for m in methods if m.strip()):
        try:
            maps[name] = reconstruct(shear, name).kappa_e
        except InputError as exc:
            raise InputError(f"--compare-methods: {name} cannot run here: {exc}") from None
    return maps
