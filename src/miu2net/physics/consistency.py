r"""Data consistency: how well the shear forward-modelled from a convergence map fits the data.

.. math:: \chi^2_\nu = \frac{1}{2 N_{\rm obs}} \sum_{\rm observed} \frac{|g_{\rm data} - g(\kappa)|^2}{\sigma^2},
          \qquad g(\kappa) = \frac{\gamma(\kappa)}{1-\kappa}

with :math:`\gamma(\kappa)` from the KS93 forward operator (zero-padded, no periodic wrap-around) and
:math:`\sigma` the per-component noise map, so :math:`2 N_{\rm obs}` shear values enter. A map that explains
the data down to the noise gives :math:`\chi^2_\nu \approx 1`; a map that also fits the noise (plain KS)
gives less; shear the map cannot make (B modes, a wrong sign convention, more noise than stated) gives
more. No degrees of freedom are subtracted for the fit (the number of effective parameters of a
regularised method is not known), so the value is a diagnostic, not a goodness-of-fit probability.

The :math:`\chi^2` cannot see shear the map explains no better than noise: at the depths of real surveys
the noise dominates every pixel, and a network fed B modes or a flipped e2 still returns a map that
fits about as well as on good data. :func:`b_to_e_ratio` looks where the lensing signal beats the noise,
the large scales: the power of the Kaiser-Squires B mode over that of the E mode of the masked shear,
summed over the modes :math:`0 < |\ell| < \ell_{\max}` (default 2000). Lensing gives B = noise (plus
mask leakage) against E = signal + noise, so the ratio stays below 1 and is smaller the deeper the
data; pure B modes (shear rotated by 45°) give the inverse; a flipped e2 turns :math:`\hat\kappa` into
:math:`e^{-4i\phi_\ell}\hat\kappa`, half of the signal power in each of E and B, so the ratio goes
to about 1. A trained model calibrates its range per noise level (:mod:`miu2net.nn.calibration`).
"""

from __future__ import annotations

import numpy as np

from miu2net.physics.fourier import ell_grid
from miu2net.physics.operators import ks93_forward, ks93_inverse
from miu2net.physics.shear import reduced_shear


def chi2_per_dof(
    g1: np.ndarray, g2: np.ndarray, mask: np.ndarray, noise: np.ndarray, kappa: np.ndarray
) -> float:
    """Reduced chi^2 of gridded reduced shear ``(g1, g2)`` against the shear of ``kappa`` (see module docstring).

    Args:
        g1, g2: observed reduced shear (masked pixels ignored).
        mask: 1 observed, 0 masked.
        noise: per-pixel standard deviation of each component (used on observed pixels only).
        kappa: the convergence map to test, same shape.
    """
    gamma1, gamma2 = ks93_forward(kappa, pad=True)
    model1, model2 = reduced_shear(gamma1, gamma2, kappa)
    observed = (np.asarray(mask) > 0) & np.isfinite(noise) & (np.asarray(noise) > 0)
    n_obs = int(observed.sum())
    if n_obs == 0:
        raise ValueError("no observed pixel with a finite, positive noise value")
    resid = ((g1 - model1) ** 2 + (g2 - model2) ** 2)[observed] / noise[observed] ** 2
    return float(resid.sum() / (2 * n_obs))


def b_to_e_ratio(g1: np.ndarray, g2: np.ndarray, mask: np.ndarray, pixel_arcmin: float, *,
                 ell_max: float = 2000.0, pad: bool = True) -> float:
    """Large-scale B-mode over E-mode power of the masked shear (module docstring).

    Args:
        g1, g2: observed reduced shear (masked pixels ignored).
        mask: 1 observed, 0 masked.
        pixel_arcmin: pixel side in arcmin.
        ell_max: largest multipole (inverse radians) of the sum.
        pad: zero-pad the KS inversion (a patch of sky; its edges leak some E into B, which the
            calibration absorbs); False treats the map as periodic.
    """
    m = (np.asarray(mask) > 0).astype(np.float64)
    if not m.any():
        raise ValueError("no observed pixel")
    kappa_e, kappa_b = ks93_inverse(np.nan_to_num(np.asarray(g1, dtype=np.float64)) * m,
                                    np.nan_to_num(np.asarray(g2, dtype=np.float64)) * m, pad=pad)
    ell = ell_grid(m.shape, pixel_arcmin)
    sel = (ell > 0) & (ell < ell_max)
    if not sel.any():
        raise ValueError(f"no Fourier mode with 0 < ell < {ell_max:g} on this map")
    power_e = np.sum(np.abs(np.fft.fft2(kappa_e))[sel] ** 2)
    power_b = np.sum(np.abs(np.fft.fft2(kappa_b))[sel] ** 2)
    return float(power_b / power_e) if power_e > 0 else float("inf")
