"""Symmetrised inference: the mean of the network over the 8 symmetries of the square is itself
equivariant. Turning the input shear (as a spin-2 field) and then reconstructing gives the turned map,
which a plain network only approximates."""

import numpy as np
import pytest

from miu2net.config import preset
from miu2net.maps import ShearMap
from miu2net.methods import reconstruct
from miu2net.nn.augment import transform_scalar, transform_shear
from miu2net.sims.simulate import simulate_sample


@pytest.fixture(scope="module")
def sample():
    return simulate_sample(preset("csst-small"), 31)


def _shear(g1, g2, mask, noise):
    return ShearMap(g1=g1, g2=g2, mask=mask, noise=np.where(mask > 0, noise, np.inf), pixel_arcmin=0.82)


@pytest.mark.parametrize("k", [1, 4, 6])
def test_symmetrised_network_commutes_with_the_symmetries(sample, k):
    mask, noise = sample["mask"], sample["noise"]
    g1, g2 = transform_shear(sample["g1"], sample["g2"], k)
    turned = _shear(g1, g2, transform_scalar(mask, k), transform_scalar(noise, k))
    direct = reconstruct(_shear(sample["g1"], sample["g2"], mask, noise), "miu2net", symmetrise=True)
    after = reconstruct(turned, "miu2net", symmetrise=True)
    scale = np.abs(direct.kappa_e).max()
    assert np.max(np.abs(after.kappa_e - transform_scalar(direct.kappa_e, k))) < 1e-5 * scale
    assert np.max(np.abs(after.sigma - transform_scalar(direct.sigma, k))) < 1e-5 * direct.sigma.max()
    plain = reconstruct(_shear(sample["g1"], sample["g2"], mask, noise), "miu2net")
    plain_turned = reconstruct(turned, "miu2net")
    # The plain network is only approximately equivariant: it differs by far more than rounding.
    assert np.max(np.abs(plain_turned.kappa_e - transform_scalar(plain.kappa_e, k))) > 1e-3 * scale
    assert direct.meta["options"]["symmetrise"] is True


def test_symmetrised_map_stays_close_to_the_plain_one(sample):
    shear = _shear(sample["g1"], sample["g2"], sample["mask"], sample["noise"])
    plain = reconstruct(shear, "miu2net").kappa_e
    sym = reconstruct(shear, "miu2net", symmetrise=True).kappa_e
    assert np.corrcoef(plain.ravel(), sym.ravel())[0, 1] > 0.97
    assert 0.9 < sym.std() / plain.std() < 1.0
