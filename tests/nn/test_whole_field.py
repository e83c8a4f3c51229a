"""Whole-field networks: the Wiener map of the whole input as a channel, and the residual on it."""

import numpy as np
import pytest
import torch

from miu2net.errors import InputError
from miu2net.maps import ShearMap
from miu2net.methods import reconstruct
from miu2net.nn import create_model
from miu2net.nn.augment import transform_raw, transform_scalar
from miu2net.nn.base import raw_from_sample, with_wiener
from miu2net.nn.checkpoint import save_model
from miu2net.nn.module import initialise_from, zero_kappa_outputs
from miu2net.physics.wiener import wiener_kappa
from miu2net.sims.synthetic import synthetic_maps

torch.set_num_threads(1)
PIXEL = 0.82
SIGMA = 0.0488
INPUTS = ("g1", "g2", "mask", "noise", "ks", "wiener")


def _sample(size, seed=0):
    m = synthetic_maps(1, size, pixel_arcmin=PIXEL, seed=seed)
    return {"kappa": m["kappa"][0], "g1": m["g1"][0], "g2": m["g2"][0], "mask": m["mask"][0],
            "noise": np.where(m["mask"][0] > 0, SIGMA, 0.0)}


def _residual_net(out_channels=3):
    torch.manual_seed(0)
    return create_model("u2net_small", mid=4, width=8, inputs=INPUTS, out_channels=out_channels, residual=True)


def test_residual_needs_the_wiener_input():
    with pytest.raises(InputError, match="wiener"):
        create_model("u2net_small", mid=4, width=8, residual=True)


def test_wiener_network_refuses_a_raw_input_without_the_wiener_map():
    net = _residual_net().eval()
    raw = raw_from_sample(_sample(32))
    assert raw.shape[0] == 4
    with pytest.raises(InputError, match=r"\[batch, 5, ny, nx\].*kappa_wiener"):
        net(torch.from_numpy(raw)[None])


def test_zeroed_residual_network_is_the_wiener_filter_exactly():
    net = _residual_net()
    zero_kappa_outputs(net)
    net.eval()
    s = with_wiener(_sample(32), PIXEL)
    raw = torch.from_numpy(raw_from_sample(s))[None]
    with torch.no_grad():
        out = net(raw)[0].numpy()
        sides = net.forward_all(raw)
    for c in (0, 2):
        np.testing.assert_allclose(out[c], s["kappa_wiener"], atol=1e-6,
                                   err_msg=f"channel {c}: a zero correction must leave the Wiener map")
    for side in sides[1:]:
        np.testing.assert_allclose(side[0, 0].numpy() * net.kappa_scale, s["kappa_wiener"], atol=1e-6,
                                   err_msg="side outputs are residual too (deep supervision on κ_WF + Δ)")
    assert np.isfinite(out[1]).all() and (out[1] > 0).all(), "the spread channel is untouched"


def test_initialise_from_a_tile_model_starts_at_the_wiener_map(tmp_path):
    torch.manual_seed(1)
    old = create_model("u2net_small", mid=4, width=8, inputs=INPUTS[:5], out_channels=3).eval()
    save_model(old, tmp_path / "old", pixel_arcmin=PIXEL, map_size=(32, 32), noise_range=(SIGMA, SIGMA))
    new = _residual_net()
    counts = initialise_from(new, tmp_path / "old")
    assert counts["skipped"] == 0 and counts["expanded"] >= 1, counts
    first = new.encoder_stages[0].conv_in[0].weight
    np.testing.assert_array_equal(first[:, 5].detach().numpy(), 0.0, err_msg="the new input starts at zero weight")
    np.testing.assert_array_equal(first[:, :5].detach().numpy(),
                                  old.encoder_stages[0].conv_in[0].weight.detach().numpy())
    zero_kappa_outputs(new)
    new.eval()
    s = with_wiener(_sample(32, seed=3), PIXEL)
    with torch.no_grad():
        out = new(torch.from_numpy(raw_from_sample(s))[None])[0, 0].numpy()
    np.testing.assert_allclose(out, s["kappa_wiener"], atol=1e-6)


@pytest.mark.parametrize("k", range(8))
def test_transform_raw_keeps_the_wiener_map_a_scalar(k):
    s = with_wiener(_sample(16), PIXEL)
    raw = raw_from_sample(s)
    moved = transform_raw(raw, k)
    for c in (2, 3, 4):
        np.testing.assert_array_equal(moved[c], transform_scalar(raw[c], k),
                                      err_msg=f"field {c} (mask, noise, Wiener map) turns as a scalar")


def test_tiles_see_the_wiener_map_of_the_whole_field(tmp_path):
    """A zero-correction residual model on a map four tiles large returns the Wiener map of the whole map,
    not a mosaic of tile-wise Wiener maps: the large scales cross the tiles."""
    net = _residual_net()
    zero_kappa_outputs(net)
    save_model(net.eval(), tmp_path / "wf", pixel_arcmin=PIXEL, map_size=(32, 32), noise_range=(SIGMA, SIGMA))
    s = _sample(64, seed=5)
    shear = ShearMap(g1=s["g1"], g2=s["g2"], mask=s["mask"], noise=np.where(s["mask"] > 0, SIGMA, np.inf),
                     pixel_arcmin=PIXEL)
    kappa = reconstruct(shear, "miu2net", model=str(tmp_path / "wf"))
    whole = wiener_kappa(s["g1"], s["g2"], s["mask"], s["noise"], pixel_arcmin=PIXEL)
    np.testing.assert_allclose(kappa.kappa_e, whole, atol=1e-6, err_msg="tiles must carry the whole field's map")
    tile = wiener_kappa(s["g1"][:32, :32], s["g2"][:32, :32], s["mask"][:32, :32], s["noise"][:32, :32],
                        pixel_arcmin=PIXEL)
    assert np.abs(tile - whole[:32, :32]).max() > 10 * np.abs(kappa.kappa_e - whole).max(), \
        "the test must be able to tell a tile's own Wiener map from the whole field's"


def test_correction_high_pass_keeps_what_a_tile_can_see():
    """The correction to the whole field's Wiener map is high-passed at the tile's fundamental mode: a
    smooth, field-wide correction (what a 128² tile cannot know) goes, one at a few arcmin stays."""
    from miu2net.nn.inference import high_pass, tile_fundamental_ell

    assert tile_fundamental_ell((128, 128), 0.41) == pytest.approx(2 * np.pi / (128 * 0.41 / 60 * np.pi / 180))
    y, x = np.mgrid[:256, :256]
    smooth = 0.01 * np.cos(2 * np.pi * x / 256)  # ℓ ≈ 206 on 256² of 0.41'
    fine = 0.01 * np.cos(2 * np.pi * x / 8)  # ℓ ≈ 6600
    ell_min = tile_fundamental_ell((128, 128), 0.41)
    inner = (slice(40, -40), slice(40, -40))  # away from the reflecting edges
    assert np.abs(high_pass(smooth, ell_min, 0.41)[inner]).max() < 0.4 * 0.01, "field-wide modes are removed"
    np.testing.assert_allclose(high_pass(fine, ell_min, 0.41)[inner], fine[inner], atol=2e-4,
                               err_msg="arcminute modes pass unchanged")
    np.testing.assert_array_equal(high_pass(smooth, 0.0, 0.41), smooth)
