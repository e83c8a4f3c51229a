"""Streams of windows of whole fields (``crop``) with the whole field's Wiener map (``wiener``)."""

import numpy as np
import pytest

from miu2net.config import StreamConfig, preset
from miu2net.errors import InputError
from miu2net.physics.wiener import wiener_kappa
from miu2net.sims.stream import SimulationStream

CFG = preset("csst-small").updated(survey={"map_size": 64})  # 64² fields of 0.82'
CROP, PER_MAP = 32, 3


def _stream(**kw):
    return SimulationStream(CFG, mixture={"gaussian": 1.0}, wiener=True, crop=CROP, crops_per_map=PER_MAP,
                            seed=7, **kw)


def _find(window: np.ndarray, field: np.ndarray) -> tuple[int, int]:
    n = window.shape[0]
    hits = [(y, x) for y in range(field.shape[0] - n + 1) for x in range(field.shape[1] - n + 1)
            if np.array_equal(field[y:y + n, x:x + n], window)]
    assert len(hits) == 1, f"the window must be one place of its field; found {len(hits)}"
    return hits[0]


def test_windows_are_windows_of_one_field_with_its_wiener_map():
    stream = _stream()
    whole = stream.full_map(0, 1)  # map 1 of epoch 0 feeds samples 3, 4, 5
    np.testing.assert_allclose(
        whole["kappa_wiener"],
        wiener_kappa(whole["g1"], whole["g2"], whole["mask"], whole["noise"], pixel_arcmin=CFG.survey.pixel_arcmin),
        atol=1e-6, err_msg="the field's Wiener map is that of the whole field (noise map and mask included)")
    places = set()
    for index in range(PER_MAP, 2 * PER_MAP):
        s = stream[(0, index)]
        assert s["kappa"].shape == s["kappa_wiener"].shape == (CROP, CROP)
        y0, x0 = _find(s["kappa"], whole["kappa"])
        for key in ("g1", "g2", "mask", "noise", "kappa_wiener"):
            np.testing.assert_array_equal(s[key], whole[key][y0:y0 + CROP, x0:x0 + CROP],
                                          err_msg=f"{key} is cut at the same place as kappa")
        places.add((y0, x0))
    assert len(places) > 1, "the windows of one field lie at different places"
    assert not np.array_equal(stream[(0, 0)]["kappa"], stream[(0, PER_MAP)]["kappa"]), "the next field is new"


def test_windows_are_deterministic_and_ranges_recorded():
    a, b = _stream(), _stream()
    np.testing.assert_array_equal(a[(1, 4)]["g1"], b[(1, 4)]["g1"])
    np.testing.assert_array_equal(a[(1, 4)]["kappa_wiener"], b[(1, 4)]["kappa_wiener"])
    ranges = a.ranges
    assert ranges["crop"] == CROP and ranges["crops_per_map"] == PER_MAP and ranges["wiener"] is True


def test_bad_crops_are_refused():
    with pytest.raises(InputError, match="crop"):
        SimulationStream(CFG, crop=128)
    with pytest.raises(InputError, match="crops_per_map"):
        SimulationStream(CFG, crop=32, crops_per_map=0)
    with pytest.raises(Exception, match="crop"):
        StreamConfig(crop=4)
