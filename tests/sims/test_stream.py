"""Streams with ``views_per_truth`` > 1: several samples view one simulated truth box, each after a periodic
shift and one of the 8 square symmetries, with its own survey (:mod:`miu2net.nn.streaming`)."""

import numpy as np
import pytest

from miu2net.config import preset
from miu2net.errors import InputError
from miu2net.nn.streaming import StreamingSimDataset
from miu2net.physics.operators import ks93_forward
from miu2net.sims.fields import cut_center
from miu2net.sims.simulate import MAP_FIELDS, apply_survey, simulate_truth

CFG = preset("csst-small")  # 128² maps of 0.82' cut from a periodic 256² box (box_factor 2)
V = 4
SCALARS = ("n_gal_arcmin2", "shape_noise_sigma", "seed")


def _assert_same_sample(a: dict, b: dict, what: str) -> None:
    assert set(a) == set(b), what
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=f"{key}: {what}")


def _symmetries(box: np.ndarray):
    """The 8 symmetries of a square array: ((k, flip), rot90(box, k) optionally flipped along x)."""
    for k in range(4):
        rotated = np.rot90(box, k)
        yield (k, False), rotated
        yield (k, True), rotated[:, ::-1]


def _periodic_window(field: np.ndarray, y0: int, x0: int, n: int) -> np.ndarray:
    ny, nx = field.shape
    return field[np.ix_((y0 + np.arange(n)) % ny, (x0 + np.arange(n)) % nx)]


def _locate(kappa: np.ndarray, box: np.ndarray) -> list:
    """Every (symmetry, (y0, x0)) whose periodic window of the symmetric box equals ``kappa`` (float32, bit for
    bit); found by search, independently of the implementation's random recipe."""
    n = kappa.shape[0]
    hits = []
    for sym, field in _symmetries(box):
        f32 = field.astype(np.float32)
        for y0, x0 in zip(*np.nonzero(f32 == kappa[0, 0])):
            if np.array_equal(_periodic_window(f32, int(y0), int(x0), n), kappa):
                hits.append((sym, (int(y0), int(x0))))
    return hits


def _transformed_box(box: np.ndarray, sym: tuple, origin: tuple, n: int) -> np.ndarray:
    """The symmetric box rolled so that its central ``n``² cut is the window at ``origin``."""
    field = dict(_symmetries(box))[sym]
    off_y, off_x = (field.shape[0] - n) // 2, (field.shape[1] - n) // 2
    return np.roll(field, (off_y - origin[0], off_x - origin[1]), axis=(0, 1))


def _without_nyquist(field: np.ndarray) -> np.ndarray:
    spectrum = np.fft.fft2(field)
    spectrum[field.shape[0] // 2, :] = 0
    spectrum[:, field.shape[1] // 2] = 0
    return np.fft.ifft2(spectrum).real


@pytest.fixture(scope="module")
def views():
    """Stream with V = 4; samples 0..7 (boxes 0 and 1) and the regenerated boxes 0 and 1."""
    ds = StreamingSimDataset(CFG, views_per_truth=V, length=16, seed=1)
    samples = [ds[i] for i in range(2 * V)]
    boxes = [simulate_truth(CFG, ds.draw(0, b, code=1)["seed"])[0] for b in range(2)]
    return ds, samples, boxes


def test_same_key_same_sample_whatever_the_object_and_the_order():
    a = StreamingSimDataset(CFG, views_per_truth=V, length=16, seed=2)
    b = StreamingSimDataset(CFG, views_per_truth=V, length=16, seed=2)
    # a reads 9, then another epoch's 9 (same box index, another box), then 8; b reads them in another order.
    a9, a9_epoch0, a8 = a[(1, 9)], a[(0, 9)], a[(1, 8)]
    b9_epoch0, b8, b9 = b[(0, 9)], b[(1, 8)], b[(1, 9)]
    _assert_same_sample(a9, b9, "(1, 9) must not depend on the object or the access order")
    _assert_same_sample(a8, b8, "(1, 8) must not depend on the object or the access order")
    _assert_same_sample(a9_epoch0, b9_epoch0, "(0, 9) must not depend on the object or the access order")
    again = a[(1, 9)]
    _assert_same_sample(a9, again, "reading a key twice gives the same sample")
    assert not np.array_equal(a9["kappa"], a9_epoch0["kappa"]), "another epoch views another box"
    assert not np.array_equal(a8["kappa"], a9["kappa"]), "two views of a box are different maps"


def test_consecutive_samples_view_one_box_by_shift_and_symmetry(views):
    ds, samples, boxes = views
    n = ds.map_size
    assert boxes[0].shape == (2 * n, 2 * n)
    found = []
    for i in range(V):
        hits = _locate(samples[i]["kappa"], boxes[0])
        assert hits, f"sample {i}: kappa is no periodic shift + square symmetry of box 0"
        found.append(hits[0])
        np.testing.assert_array_equal(cut_center(ds.truth_view(0, i)[0], (n, n)).astype(np.float32),
                                      samples[i]["kappa"], err_msg="truth_view is the sample's box")
    assert len({f for f in found}) == V, f"the {V} views of a box should be distinct: {found}"
    box0 = np.sort(boxes[0].astype(np.float32).ravel())
    for i in range(V, 2 * V):
        assert not _locate(samples[i]["kappa"], boxes[0]), f"sample {i} must view box 1, not box 0"
        values = samples[i]["kappa"].ravel()
        pos = np.clip(np.searchsorted(box0, values), 0, box0.size - 1)
        assert np.mean(box0[pos] == values) < 0.01, f"sample {i}'s kappa values come from box 0"
        assert _locate(samples[i]["kappa"], boxes[1]), f"sample {i}: kappa is no view of box 1"


def test_view_shear_is_recomputed_from_the_transformed_box(views):
    ds, samples, boxes = views
    n = ds.map_size
    gamma_box = ks93_forward(boxes[0], pad=False)
    sign_changing = 0
    for i in range(V):
        s = samples[i]
        (sym, origin), *_ = _locate(s["kappa"], boxes[0])
        box = _transformed_box(boxes[0], sym, origin, n)
        kappa = cut_center(box, (n, n))
        np.testing.assert_array_equal(kappa.astype(np.float32), s["kappa"])
        g1_box, g2_box = ks93_forward(box, pad=False)
        gamma1, gamma2 = cut_center(g1_box, (n, n)), cut_center(g2_box, (n, n))
        np.testing.assert_allclose(s["gamma1"], gamma1, rtol=0, atol=1e-6, err_msg=f"sample {i} gamma1")
        np.testing.assert_allclose(s["gamma2"], gamma2, rtol=0, atol=1e-6, err_msg=f"sample {i} gamma2")
        np.testing.assert_allclose(s["g1_noiseless"], gamma1 / (1 - kappa), rtol=0, atol=1e-5,
                                   err_msg=f"sample {i}: g1 is the reduced shear of the transformed box")
        np.testing.assert_allclose(s["g2_noiseless"], gamma2 / (1 - kappa), rtol=0, atol=1e-5,
                                   err_msg=f"sample {i}: g2 is the reduced shear of the transformed box")
        # Independently, spin 2: a 90° rotation flips the signs of both components, a flip of x that of gamma2.
        # The discrete KS93 kernel is not exactly symmetric at the Nyquist frequencies (l = -1/2 only), so the
        # law is checked on the shear with the Nyquist row and column of the box's spectrum removed.
        k, flip = sym
        s1, s2 = (-1) ** k, (-1) ** (k + int(flip))
        for c, sign, recomputed in ((0, s1, g1_box), (1, s2, g2_box)):
            moved = _transformed_box(gamma_box[c], sym, origin, n)
            np.testing.assert_allclose(cut_center(_without_nyquist(recomputed), (n, n)),
                                       sign * cut_center(_without_nyquist(moved), (n, n)), rtol=0, atol=1e-9,
                                       err_msg=f"sample {i} {sym}: gamma{c + 1} is not the spin-2 transform "
                                               "of the box's")
        sign_changing += (s1, s2) != (1, 1)
    assert sign_changing, "the views tested include no symmetry that changes a shear sign (test is vacuous)"


def test_each_view_has_its_own_survey(views):
    ds, samples, _ = views
    for i in range(1, V):
        a, b = samples[0], samples[i]
        assert float(a["n_gal_arcmin2"]) != float(b["n_gal_arcmin2"]), f"views 0 and {i}: same depth"
        assert float(a["shape_noise_sigma"]) != float(b["shape_noise_sigma"]), f"views 0 and {i}: same sigma_e"
        assert int(a["seed"]) != int(b["seed"])
        assert not np.array_equal(a["mask"], b["mask"]), f"views 0 and {i}: same mask"
        assert not np.array_equal(a["noise"], b["noise"]), f"views 0 and {i}: same noise level"
        both = (a["mask"] > 0) & (b["mask"] > 0)
        na = (a["g1"] - a["g1_noiseless"])[both]
        nb = (b["g1"] - b["g1_noiseless"])[both]
        assert both.sum() > 1000 and abs(np.corrcoef(na, nb)[0, 1]) < 0.1, f"views 0 and {i}: correlated noise"
    for i in range(2 * V):
        d = ds.draw(0, i)  # the survey of a sample comes from (epoch, index), as with V = 1
        assert np.float32(d["n_gal_arcmin2"]) == samples[i]["n_gal_arcmin2"]
        assert np.float32(d["shape_noise_sigma"]) == samples[i]["shape_noise_sigma"]
        assert int(samples[i]["seed"]) == d["seed"]
        observed = samples[i]["mask"] > 0
        sigma = samples[i]["noise"][observed]
        # Poisson counts N >= 1: sigma = sigma_e / sqrt(2N) <= sigma_e / sqrt(2)
        assert sigma.max() <= d["shape_noise_sigma"] / np.sqrt(2) * (1 + 1e-6)


def test_one_view_per_truth_is_the_plain_stream():
    ds = StreamingSimDataset(CFG, views_per_truth=1, length=16, seed=1)
    default = StreamingSimDataset(CFG, length=16, seed=1)
    assert default.views_per_truth == 1 and "views_per_truth" not in default.ranges
    assert ds.fingerprint == default.fingerprint
    survey = CFG.survey
    for k in (0, 1):
        d = ds.draw(0, k)
        mask = survey.mask.model_copy(update={"enabled": True, "masked_fraction": (0.0, 0.35)})
        s = survey.model_copy(update={"noise_model": "poisson", "mask": mask, "n_gal_arcmin2": d["n_gal_arcmin2"],
                                      "shape_noise_sigma": d["shape_noise_sigma"]})
        kappa_box, _ = simulate_truth(CFG, d["seed"])
        expected = apply_survey(kappa_box, CFG.model_copy(update={"survey": s}), d["seed"], periodic=True)
        got = ds[k]
        for key in MAP_FIELDS:
            np.testing.assert_array_equal(got[key], expected[key], err_msg=f"sample {k} {key}: V = 1 changed")
        assert int(got["seed"]) == d["seed"]
        _assert_same_sample(got, default[k], "views_per_truth=1 is the default")


def test_bad_views_per_truth_refused():
    with pytest.raises(InputError, match="views_per_truth"):
        StreamingSimDataset(CFG, views_per_truth=0)
    with pytest.raises(InputError, match="views_per_truth"):
        StreamingSimDataset(CFG, views_per_truth=-3)
    flat = CFG.updated(sim={"box_factor": 1})
    assert flat.sim.box_factor == 1
    with pytest.raises(InputError, match="box_factor"):
        StreamingSimDataset(flat, views_per_truth=2)
    assert StreamingSimDataset(flat, views_per_truth=1).views_per_truth == 1  # a plain stream needs no box
