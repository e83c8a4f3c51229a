"""The figure of `reconstruct --png`: what its scales and title say."""

import numpy as np

from miu2net.maps import KappaMap
from miu2net.plots import _range_norm, _symmetric_norm, plot_reconstruction, provenance_line


def test_one_extreme_pixel_does_not_set_the_error_scale():
    rng = np.random.default_rng(0)
    sigma = 0.02 + 0.002 * rng.random((64, 64))
    sigma[10, 10] = 1.6  # a cluster core's huge error bar
    norm = _range_norm(sigma, np.ones(sigma.shape, bool))
    assert norm.vmax < 0.05, "the colour scale must follow the map, not its one extreme pixel"


def test_kappa_b_gets_its_own_scale():
    rng = np.random.default_rng(1)
    noisy_b = rng.normal(0, 0.1, (64, 64))
    norm = _symmetric_norm(noisy_b, np.ones(noisy_b.shape, bool))
    assert norm.vmin == -norm.vmax and 0.2 < norm.vmax < 0.4, "B on a symmetric scale of its own noise"


def test_title_names_the_model_and_dataok(tmp_path):
    assert provenance_line({"method": "wiener"}) == ""
    line = provenance_line({"model": "miu2net-csst", "estimate": "mean", "dataok": False})
    assert "miu2net-csst" in line and "minimum-RMSE" in line and "DATAOK = F" in line
    kappa = KappaMap(kappa_e=np.zeros((32, 32)), kappa_b=np.zeros((32, 32)), pixel_arcmin=0.41,
                     sigma=np.full((32, 32), 0.01), meta={"model": "miu2net-csst", "dataok": True})
    plot_reconstruction(kappa, tmp_path / "k.png", title="t")
    assert (tmp_path / "k.png").stat().st_size > 1000


def test_healpix_figure_puts_east_on_the_left(tmp_path):
    """plot_healpix draws healpy's cartographic projection with RA growing to the left: a peak 10 deg east
    of the centre lands in the left half of the projected image (the convention the figure relies on)."""
    import healpy as hp

    from miu2net.plots import plot_healpix

    nside = 64
    kappa = np.full(hp.nside2npix(nside), hp.UNSEEN)
    kappa[hp.query_disc(nside, hp.ang2vec(40, -30, lonlat=True), np.radians(12))] = 0.0
    peak = hp.query_disc(nside, hp.ang2vec(50, -30, lonlat=True), np.radians(1.5))
    kappa[peak] = 0.02
    zoom = hp.projector.CartesianProj(lonra=[-15, 15], latra=[-45, -15], rot=(40, 0), xsize=300)
    image = zoom.projmap(np.where(kappa == hp.UNSEEN, 0.0, kappa), lambda x, y, z: hp.vec2pix(nside, x, y, z))
    columns = np.nonzero(image > 0.01)[1]
    assert columns.mean() < 0.25 * image.shape[1], "east (larger RA) must be on the left"
    plot_healpix({"KAPPA_E": kappa, "KAPPA_B": 0.2 * kappa}, tmp_path / "sky.png", title="peak east")
    assert (tmp_path / "sky.png").stat().st_size > 10_000
