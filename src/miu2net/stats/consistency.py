r"""Data consistency: how well the shear forward-modelled from a convergence map fits the data.

.. math:: \chi^2_\nu = \frac{1}{2 N_{\rm obs}} \sum_{\rm observed} \frac{|g_{\rm data} - g(\kappa)|^2}{\sigma^2},
          \qquad g(\kappa) = \frac{\gamma(\kappa)}{1-\kappa}

with :math:`\gamma(\kappa)` from the KS93 forward operator (zero-padded, no periodic wrap-around) and
:math:`\sigma` the per-component noise map, so :math:`2 N_{\rm obs}` shear values enter. A map that explains
the data down to the noise gives :math:`\chi^2_\nu \approx 1`; a map that also fits the noise (plain KS)
gives less; shear the map cannot make (B modes, a wrong sign convention, more noise than stated) gives
more. No degrees of freedom are subtracted for the fit (the number of effective parameters of a
regularised method is not known), so the value is a diagnostic, not a goodness-of-fit probability.
"""

from __future__ import annotations

import numpy as np

from miu2net.physics.operators import ks93_forward
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
