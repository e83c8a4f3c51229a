"""Binning shear to coarser pixels (maps.bin_shear) and its use by the trained-model methods (issue #8):
input at a finer pixel than the model's is binned to the model's pixel, and said so, not refused."""

import numpy as np
import pytest
import torch
from astropy.io import fits
from astropy.wcs import WCS
from typer.testing import CliRunner

from miu2net.cli import app
from miu2net.config import preset
from miu2net.errors import InputError
from miu2net.io import default_wcs, pixel_arcmin_of_wcs, read_kappa_map, write_shear_map
from miu2net.maps import ShearMap, bin_shear
from miu2net.methods import reconstruct
from miu2net.nn.inference import binning_factor
from miu2net.sims.simulate import simulate_sample
from miu2net.stats.metrics import pearson_r, rmse

torch.set_num_threads(1)
runner = CliRunner()


@pytest.fixture(scope="module")
def csst_sample():
    """One simulated sample of the default survey: 256 x 256 pixels of 0.41'."""
    return simulate_sample(preset("csst"), 1)


def _shear_of(sample, pixel, wcs=None):
    return ShearMap(g1=sample["g1"], g2=sample["g2"], mask=sample["mask"], noise=sample["noise"],
                    pixel_arcmin=pixel, wcs=wcs)


def _block_mean(a, n):
    ny, nx = a.shape
    return np.asarray(a, dtype=np.float64).reshape(ny // n, n, nx // n, n).mean(axis=(1, 3))


# ---------------------------------------------------------------- bin_shear itself


def test_constant_field_stays_constant(rng):
    noise = rng.uniform(0.05, 0.3, (12, 12))
    mask = (rng.uniform(size=(12, 12)) > 0.3).astype(float)
    shear = ShearMap(g1=np.full((12, 12), 0.03), g2=np.full((12, 12), -0.02), mask=mask, noise=noise,
                     pixel_arcmin=0.41)
    out = bin_shear(shear, 3)
    assert out.shape == (4, 4) and out.pixel_arcmin == pytest.approx(1.23)
    obs = out.observed
    np.testing.assert_allclose(out.g1[obs], 0.03, rtol=1e-12)
    np.testing.assert_allclose(out.g2[obs], -0.02, rtol=1e-12)
    for g in (out.g1, out.g2):
        assert not g[~obs].any()
    plain = bin_shear(ShearMap(g1=np.full((8, 8), 0.01), g2=np.zeros((8, 8)), pixel_arcmin=0.5), 2)
    assert plain.noise is None and plain.pixel_arcmin == 1.0
    np.testing.assert_allclose(plain.g1, 0.01)


def test_inverse_variance_weights():
    g1 = np.array([[0.1, 0.0], [0.0, 0.0]])
    g2 = np.array([[0.0, 0.2], [0.0, 0.0]])
    noise = np.array([[0.1, 0.3], [0.1, 0.1]])
    out = bin_shear(ShearMap(g1=g1, g2=g2, noise=noise, pixel_arcmin=0.41), 2)
    w = 1.0 / noise.ravel() ** 2
    assert out.g1[0, 0] == pytest.approx(0.1 * w[0] / w.sum())
    assert out.g2[0, 0] == pytest.approx(0.2 * w[1] / w.sum())
    assert out.g2[0, 0] < 0.2 / 4, "the noisy pixel weighs less than in a plain mean"
    assert out.noise[0, 0] == pytest.approx(1.0 / np.sqrt(w.sum()))
    # two pixels only: a quiet one (σ = 0.01) and a noisy one (σ = 1): the result sits at the quiet one
    two = bin_shear(ShearMap(g1=np.array([[0.05, -0.5]]).repeat(2, 0), g2=np.zeros((2, 2)),
                             mask=np.array([[1.0, 1.0], [0.0, 0.0]]), noise=np.array([[0.01, 1.0], [1.0, 1.0]]),
                             pixel_arcmin=1.0), 2)
    assert two.g1[0, 0] == pytest.approx((0.05 / 0.01**2 - 0.5) / (1 / 0.01**2 + 1))
    assert abs(two.g1[0, 0] - 0.05) < 1e-3
    # four equal σ give σ / 2 (and σ / n for n x n equal pixels)
    for n in (2, 3):
        equal = bin_shear(ShearMap(g1=np.zeros((6, 6)), g2=np.zeros((6, 6)), noise=np.full((6, 6), 0.28),
                                   pixel_arcmin=0.41), n)
        np.testing.assert_allclose(equal.noise, 0.28 / n)


def test_masked_pixels_ignored_and_empty_blocks_masked():
    g1 = np.array([[0.1, 9.0, 0.0, 0.0], [0.1, 9.0, 0.0, 0.0]] * 2)
    mask = np.array([[1, 0, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1], [1, 1, 1, 1]], dtype=float)
    noise = np.where(mask > 0, 0.2, 1e-6)  # a masked pixel's noise must not weigh either
    shear = ShearMap(g1=g1, g2=np.zeros((4, 4)), mask=mask, noise=noise, pixel_arcmin=0.41)
    out = bin_shear(shear, 2)
    np.testing.assert_array_equal(out.mask, [[1, 0], [1, 1]])
    assert out.g1[0, 0] == pytest.approx(0.1), "masked pixels (holding 0) are not averaged in"
    assert out.noise[0, 0] == pytest.approx(0.2 / np.sqrt(2))
    assert out.g1[0, 1] == 0.0 and out.g2[0, 1] == 0.0 and out.noise[0, 1] == np.inf
    assert out.noise[1, 1] == pytest.approx(0.1)
    assert out.meta["binned"]["factor"] == 2 and "binned 2x2" in out.meta["binned"]["note"]


def test_crops_trailing_rows_and_columns_and_refuses_bad_factors(rng):
    shear = ShearMap(g1=rng.normal(0, 0.1, (11, 11)), g2=rng.normal(0, 0.1, (11, 11)),
                     noise=np.full((11, 11), 0.1), pixel_arcmin=0.41, meta={"input": "x.fits"})
    out = bin_shear(shear, 3)
    assert out.shape == (3, 3) and out.meta["binned"]["cropped"] == [2, 2]
    assert out.meta["input"] == "x.fits" and "cropped" in out.meta["binned"]["note"]
    np.testing.assert_allclose(out.g1, _block_mean(shear.g1[:9, :9], 3))
    assert bin_shear(shear, 1) is shear
    for bad in (0, -2, 1.5, True, 12):
        with pytest.raises(InputError):
            bin_shear(shear, bad)


@pytest.mark.parametrize("form", ["cdelt", "cd"])
@pytest.mark.parametrize("factor", [2, 3])
def test_wcs_describes_the_binned_grid(form, factor):
    shape, pixel = (256, 256), 0.41
    wcs = default_wcs(shape, pixel, (150.0, 2.0))
    if form == "cd":  # astropy's WCS.slice with a step would get a CD matrix wrong
        header = wcs.to_header()
        header["CD1_1"], header["CD2_2"] = -pixel / 60, pixel / 60
        for key in ("CDELT1", "CDELT2", "PC1_1", "PC2_2"):
            header.remove(key, ignore_missing=True)
        wcs = WCS(header)
        assert wcs.wcs.has_cd()
    wcs.pixel_shape = shape
    shear = ShearMap(g1=np.zeros(shape), g2=np.zeros(shape), pixel_arcmin=pixel, wcs=wcs)
    out = bin_shear(shear, factor)
    n = shape[0] // factor
    assert out.shape == (n, n) and out.wcs.pixel_shape == (n, n)
    assert out.pixel_arcmin == pytest.approx(pixel * factor)
    assert pixel_arcmin_of_wcs(out.wcs) == pytest.approx(pixel * factor, rel=1e-9)
    for j, i in [(0, 0), (n - 1, n - 1), (0, n - 1), (n // 2, n // 3), (7, 70)]:
        ys, xs = np.mgrid[factor * j:factor * (j + 1), factor * i:factor * (i + 1)]
        ra, dec = wcs.pixel_to_world_values(xs, ys)
        ra_b, dec_b = out.wcs.pixel_to_world_values(i, j)
        assert abs(ra_b - ra.mean()) < 1e-6 and abs(dec_b - dec.mean()) < 1e-6, (j, i)


def test_binning_factor():
    assert binning_factor(0.41, 0.82) == 2
    assert binning_factor(0.2733, 0.82) == 3
    assert binning_factor(0.41 * 1.009, 0.82) == 2  # within 1 %
    assert binning_factor(0.41 * 1.02, 0.82) == 1
    assert binning_factor(0.82 / 1.5, 0.82) == 1
    assert binning_factor(0.82, 0.82) == 1 and binning_factor(1.64, 0.82) == 1


# ------------------------------------------- a coarser model on 0.41' input (the 0.82' quick model)

QUICK = "miu2net-csst-quick"  # the native 0.41' model is the default there; these test binning


def test_shipped_model_bins_fine_input(csst_sample):
    sample = csst_sample
    assert sample["g1"].shape == (256, 256)
    wcs = default_wcs((256, 256), 0.41, (150.0, 2.0))
    kappa = reconstruct(_shear_of(sample, 0.41, wcs), "miu2net", model=QUICK)
    assert kappa.shape == (128, 128) and kappa.pixel_arcmin == pytest.approx(0.82)
    binned = kappa.meta["binned"]
    assert binned["factor"] == 2 and binned["from_pixel_arcmin"] == 0.41
    assert binned["to_pixel_arcmin"] == pytest.approx(0.82)
    assert kappa.meta["model"] == "miu2net-csst-quick" and "mismatch" not in kappa.meta
    assert pixel_arcmin_of_wcs(kappa.wcs) == pytest.approx(0.82)
    assert kappa.kappa_b.shape == (128, 128) and kappa.sigma.shape == (128, 128)
    # CHI2DOF and DATAOK judged against the binned shear: the noise model holds, so χ²/dof ≈ 1
    assert 0.8 < kappa.meta["chi2dof"] < 1.2 and kappa.meta["dataok"] is True
    truth = _block_mean(sample["kappa"], 2)
    truth -= truth.mean()
    rec = kappa.kappa_e - kappa.kappa_e.mean()
    err = rmse(rec, truth)
    assert err < 0.9 * truth.std() and pearson_r(rec, truth) > 0.45, (err / truth.std(), pearson_r(rec, truth))
    # as good as the model on a field simulated directly at its own 0.82' pixel (same survey)
    direct = simulate_sample(preset("csst").updated(survey={"map_size": 128, "pixel_arcmin": 0.82}), 1)
    k82 = reconstruct(_shear_of(direct, 0.82), "miu2net")
    assert "binned" not in k82.meta
    t82 = direct["kappa"] - direct["kappa"].mean()
    ratio = (err / truth.std()) / (rmse(k82.kappa_e - k82.kappa_e.mean(), t82) / t82.std())
    assert ratio < 1.1, ratio
    deep = reconstruct(_shear_of(sample, 0.41), "deepmass")
    assert deep.shape == (128, 128) and deep.meta["binned"]["factor"] == 2


def test_non_integer_or_coarser_input_still_refused(csst_sample):
    with pytest.raises(InputError, match=r"pixel scale 0\.5467 arcmin.*0\.82 arcmin"):
        reconstruct(_shear_of(csst_sample, 0.82 / 1.5), "miu2net", model=QUICK)
    with pytest.raises(InputError, match=r"pixel scale 1\.64 arcmin.*0\.41 arcmin"):  # the default model there
        reconstruct(_shear_of(csst_sample, 1.64), "miu2net")
    # near 2 within 1 %, but the binned pixel (0.825') is off the model's by more than its 0.1 %
    with pytest.raises(InputError, match=r"pixel scale 0\.825 arcmin.*binned 2x2"):
        reconstruct(_shear_of(csst_sample, 0.4125), "miu2net", model=QUICK)
    out = reconstruct(_shear_of(csst_sample, 0.82 / 1.5), "miu2net", model=QUICK, allow_mismatch=True)
    assert out.shape == (256, 256) and "binned" not in out.meta and out.meta["mismatch"]


def test_pipeline_tiles_and_noise_on_the_binned_grid(tmp_path):
    from miu2net.pipeline import reconstruct_file

    config = preset("csst").updated(survey={"map_size": 384})
    sample = simulate_sample(config, 2)
    path = write_shear_map(_shear_of(sample, 0.41, default_wcs((384, 384), 0.41, (30.0, -10.0))),
                           tmp_path / "wide.fits")
    kappa, shear = reconstruct_file(path, method="miu2net", options={"model": QUICK}, tile=256, tile_overlap=64,
                                    noise_realisations=2)
    assert kappa.shape == (192, 192) and shear.shape == (192, 192) and shear.pixel_arcmin == pytest.approx(0.82)
    assert kappa.meta["binned"]["factor"] == 2
    assert kappa.meta["tiling"]["tile"] == 128 and kappa.meta["tiling"]["overlap"] == 32
    assert kappa.sigma_noise.shape == (192, 192) and np.isfinite(kappa.meta["chi2dof"])


def test_cli_reconstruct_bins_fine_input(tmp_path, csst_sample):
    shear_path = write_shear_map(_shear_of(csst_sample, 0.41, default_wcs((256, 256), 0.41, (150.0, 2.0))),
                                 tmp_path / "shear.fits")
    out = tmp_path / "kappa.fits"
    result = runner.invoke(app, ["reconstruct", str(shear_path), "--method", "miu2net", "--option", f"model={QUICK}",
                                 "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "binned the 0.41' input 2x2 to the model's 0.82' pixels" in result.output
    assert "128x128 at 0.82'" in result.output
    with fits.open(out) as hdul:
        images = [h for h in hdul if h.data is not None]
        assert {h.name for h in images} >= {"KAPPA_E", "KAPPA_B", "SIGMA", "SNR"}
        assert all(h.data.shape == (128, 128) for h in images)
        head = hdul["KAPPA_E"].header
        assert head["BINNED"] == 2 and head["INPIXSC"] == pytest.approx(0.41)
        assert head["PIXSCALE"] == pytest.approx(0.82) and head["MODEL"] == "miu2net-csst-quick"
        assert "DATAOK" in head and "CHI2DOF" in head
    back = read_kappa_map(out)
    assert back.pixel_arcmin == pytest.approx(0.82) and back.meta["binned"]["factor"] == 2


def test_benchmarks_skip_a_network_that_bins(csst_sample):
    """evaluate and project --compare-png compare maps on the truth's grid: a binned κ cannot join."""
    from miu2net.evaluate import compare_methods_on_truth, runnable_methods

    usable, skipped = runnable_methods(["miu2net", "ks"], csst_sample, 0.41, {"miu2net": {"model": QUICK}})
    assert usable == ["ks"] and "binned 2x2" in skipped["miu2net"] and "truth's 256x256" in skipped["miu2net"]
    with pytest.raises(InputError, match="miu2net cannot be compared on this grid.*binned 2x2"):
        # 0.205' pixels: the default model there is the native 0.41' one, which bins them 2x2
        compare_methods_on_truth(csst_sample["kappa"], pixel_arcmin=0.205, methods=["miu2net"])
