"""The method contract (methods/base.py): what each method declares matches what it takes."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from miu2net.errors import InputError
from miu2net.maps import ShearMap
from miu2net.methods import METHODS, get_method, reconstruct
from miu2net.methods.base import TrainedMethod


@pytest.mark.parametrize("name", sorted(METHODS))
def test_declared_options_are_the_keyword_options_of_reconstruct(name):
    method = get_method(name)
    taken = [p for p in inspect.signature(method.reconstruct).parameters if p != "shear"]
    assert list(method.options) == taken, f"{name}: METHOD declares {list(method.options)}, reconstruct takes {taken}"
    assert method.name == name


@pytest.mark.parametrize("name, options, message", [
    ("ks", {"smooth_arcmin": "abc"}, "expects a number"),
    ("ks", {"smooth_arcmin": -2.0}, "must lie in"),
    ("ks", {"smooth_arcmin": float("nan")}, "finite"),
    ("ks", {"pad": 1}, "true or false"),
    ("ks", {"radius": 1.0}, "no option"),
    ("wiener", {"max_iter": 2.5}, "whole number"),
    ("wiener", {"max_iter": 10.0}, "whole number"),
    ("deepmass", {"batch_size": 2.0}, "whole number"),
    ("miu2net", {"device": -1}, "GPU number"),
    ("wiener", {"cl_kappa": "planck"}, "Python API"),
    ("miu2net", {"coverage": 1.0}, "must lie in"),
    ("miu2net", {"model": 3}, "model name or path"),
])
def test_a_bad_option_is_refused_before_the_method_runs(name, options, message):
    shear = ShearMap(np.zeros((16, 16)), np.zeros((16, 16)), 1.0)
    with pytest.raises(InputError, match=message):
        reconstruct(shear, name, **options)


def test_a_classical_method_works_on_the_input_grid_and_a_network_on_its_models():
    shear = ShearMap(np.zeros((256, 256)), np.zeros((256, 256)), 0.41, noise=np.full((256, 256), 0.1))
    ks = get_method("ks")
    assert ks.working_grid(shear, {}) == (shear, None) and ks.problems(shear, {}) == []
    network = get_method("miu2net")
    assert isinstance(network, TrainedMethod)
    bound = network.bind({}, shear)
    assert hasattr(bound["model"], "config"), "bind loads the model once"
    assert bound["model"].name == "miu2net-csst", "the shipped model of the input's pixel"
    assert network.working_grid(shear, bound) == (shear, None) and network.problems(shear, bound) == []
    quick = network.bind({"model": "miu2net-csst-quick"})
    grid, binned = network.working_grid(shear, quick)
    assert grid.shape == (128, 128) and binned["factor"] == 2
    assert network.problems(shear, quick) == [], "0.41' input binned 2x2 fits the 0.82' model"
