"""Compare methods on a known truth (e.g. a projected N-body cluster) outside the dataset path.

The truth is observed exactly as a training sample is (:func:`miu2net.sims.simulate.apply_survey`):
zero-padded KS forward, reduced shear, Gaussian pixel noise of the survey's depth; no mask.
"""

from __future__ import annotations

import numpy as np

from miu2net.config import preset
from miu2net.errors import InputError
from miu2net.sims.simulate import apply_survey


def compare_methods_on_truth(
    truth: np.ndarray,
    *,
    pixel_arcmin: float,
    methods: list[str],
    n_gal_arcmin2: float = 50.0,
    seed: int = 0,
    survey_preset: str = "csst",
) -> dict[str, np.ndarray]:
    """``{"truth": truth, method: kappa_E, ...}`` from one noisy, unmasked observation of ``truth``.

    The survey is ``survey_preset`` at the truth's pixel scale and size with ``n_gal_arcmin2`` sources
    per arcmin². A method that cannot run on this input raises InputError naming it.
    """
    from miu2net.evaluate import shear_of_sample
    from miu2net.methods import reconstruct

    if truth.ndim != 2 or truth.shape[0] != truth.shape[1]:
        raise InputError(f"the truth map must be square; got shape {truth.shape}")
    config = preset(survey_preset).updated(survey={
        "map_size": truth.shape[0], "pixel_arcmin": pixel_arcmin, "n_gal_arcmin2": n_gal_arcmin2,
        "noise_model": "gaussian", "mask": {"enabled": False}})
    shear = shear_of_sample(apply_survey(truth, config, seed, periodic=False), pixel_arcmin)
    maps: dict[str, np.ndarray] = {"truth": truth}
    for name in (m.strip() for m in methods if m.strip()):
        try:
            kappa = reconstruct(shear, name)
        except InputError as exc:
            raise InputError(f"--compare-methods: {name} cannot run here: {exc}") from None
        if kappa.shape != truth.shape:  # a network that binned the input to its coarser pixel
            raise InputError(f"--compare-methods: {name} cannot be compared on this grid: it "
                             f"{(kappa.meta.get('binned') or {}).get('note', 'returns another grid')}")
        maps[name] = kappa.kappa_e
    return maps
