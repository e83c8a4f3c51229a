"""The methods by their CLI names: lookup, unknown names and options, and the data-consistency check added."""

import numpy as np
import pytest

from miu2net.errors import InputError
from miu2net.maps import ShearMap
from miu2net.methods.base import Method
from miu2net.methods.registry import METHODS, get_method, reconstruct
from miu2net.physics.operators import ks93_forward


def test_every_name_resolves_to_its_method():
    assert set(METHODS) == {"ks", "wiener", "ksplus", "sparse", "mcalens", "miu2net", "deepmass"}
    for name in METHODS:
        method = get_method(name)
        assert isinstance(method, Method) and method.name == name
        assert method.reconstruct.__module__ == f"miu2net.methods.{METHODS[name]}"


def test_unknown_method_lists_the_choices():
    with pytest.raises(InputError, match=r"unknown method 'kss'; choose one of: deepmass, ks, ksplus, mcalens, "
                                         r"miu2net, sparse, wiener"):
        get_method("kss")


def _shear(noise):
    kappa = 0.02 * np.random.default_rng(0).standard_normal((31, 31))
    g1, g2 = ks93_forward(kappa - kappa.mean(), pad=False)
    rng = np.random.default_rng(1)
    sigma = 0.01
    g1, g2 = g1 + sigma * rng.standard_normal(g1.shape), g2 + sigma * rng.standard_normal(g2.shape)
    return ShearMap(g1=g1, g2=g2, pixel_arcmin=1.0, noise=np.full(g1.shape, sigma) if noise else None)


def test_chi2_per_dof_is_added_when_the_shear_has_a_noise_map():
    with_noise = reconstruct(_shear(noise=True), "ks", pad=False)
    assert with_noise.meta["method"] == "ks"
    # KS without padding reproduces the shear exactly (E and B together): the residual is what KS leaves
    assert 0.0 <= with_noise.meta["chi2dof"] < 1.0
    assert "chi2dof" not in reconstruct(_shear(noise=False), "ks").meta


def test_unknown_options_are_refused_before_work():
    with pytest.raises(InputError, match="method 'ks' has no option"):
        reconstruct(_shear(noise=False), "ks", smoothing=2.0)
    default = reconstruct(_shear(noise=False))
    assert default.meta["method"] == "ks", "KS is the default method"
