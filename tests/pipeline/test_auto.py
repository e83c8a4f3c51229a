"""`miu2net reconstruct` without --method: the shipped MIU2Net where a shipped model covers the input (the
native 0.41' model, the 0.82' quick model), else the Wiener filter on the input's own grid, and the output
says which and why."""

import numpy as np
import pytest
from astropy.io import fits
from typer.testing import CliRunner

from miu2net.cli import app
from miu2net.config import preset
from miu2net.errors import InputError
from miu2net.io import default_wcs, write_shear_map
from miu2net.maps import ShearMap
from miu2net.pipeline import choose_method
from miu2net.sims.simulate import simulate_sample

runner = CliRunner()


@pytest.fixture(scope="module")
def small_sample():
    """One sample of the shipped model's own survey: 128 x 128 pixels of 0.82'."""
    return simulate_sample(preset("csst-small"), 7)


def _shear(sample, pixel=0.82, noise=True):
    n = sample["g1"].shape[0]
    return ShearMap(g1=sample["g1"], g2=sample["g2"], mask=sample["mask"],
                    noise=np.where(sample["mask"] > 0, sample["noise"], np.inf) if noise else None,
                    pixel_arcmin=pixel, wcs=default_wcs((n, n), pixel, (150.0, 2.0)))


def test_auto_uses_the_shipped_model_when_the_input_fits(tmp_path, small_sample):
    path = write_shear_map(_shear(small_sample), tmp_path / "shear.fits")
    out = tmp_path / "kappa.fits"
    result = runner.invoke(app, ["reconstruct", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "method auto: the input fits the shipped model, so used miu2net with model miu2net-csst-quick" in result.output
    assert "method miu2net, model miu2net-csst-quick" in result.output
    with fits.open(out) as hdul:
        assert hdul["KAPPA_E"].header["METHOD"] == "miu2net"
        assert hdul["KAPPA_E"].header["MODEL"] == "miu2net-csst-quick"
        assert "SIGMA" in hdul and hdul["SIGMA"].data.shape == (128, 128)
        # The network's map follows the truth (it is not an empty or constant map).
        kappa = hdul["KAPPA_E"].data
    truth = small_sample["kappa"]
    r = np.corrcoef(kappa.ravel(), truth.ravel())[0, 1]
    assert r > 0.45


def test_auto_falls_back_to_wiener_and_says_why(tmp_path, small_sample):
    # No NOISE HDU: the shipped model takes the noise map as an input, so it cannot run.
    path = write_shear_map(_shear(small_sample, noise=False), tmp_path / "shear.fits")
    out = tmp_path / "kappa.fits"
    result = runner.invoke(app, ["reconstruct", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "method auto: used wiener, since the shipped model does not fit this input" in result.output
    assert "no noise map" in result.output
    with fits.open(out) as hdul:
        assert hdul["KAPPA_E"].header["METHOD"] == "wiener"


def test_auto_choice_per_input(small_sample):
    assert choose_method(_shear(small_sample), {})[0] == "miu2net"
    # A pixel no model can bin to (ratio 1.5) and a map smaller than the 0.82' model (which was not trained
    # for embedded fields): the Wiener filter, with the reason.
    method, why = choose_method(_shear(small_sample, pixel=0.82 / 1.5), {})
    assert method == "wiener" and "pixel scale" in why["reason"]
    cut = {k: v[:64, :64] for k, v in small_sample.items()}
    method, why = choose_method(_shear(cut), {})
    assert method == "wiener" and "smaller than the model's training size" in why["reason"]
    # The survey's own 0.41' grid: the native model, on the whole map and on a footprint smaller than
    # its field (embedded).
    big = simulate_sample(preset("csst"), 3)
    method, why = choose_method(_shear(big, pixel=0.41), {})
    assert method == "miu2net" and why["model"] == "miu2net-csst"
    small = {k: v[:80, :80] for k, v in big.items()}
    method, why = choose_method(_shear(small, pixel=0.41), {})
    assert method == "miu2net" and why["model"] == "miu2net-csst"
    tiny = {k: v[:40, :40] for k, v in big.items()}  # 10 % of the native field: too small
    method, why = choose_method(_shear(tiny, pixel=0.41), {})
    assert method == "wiener" and "trained for embedded footprints" in why["reason"]
    # A finer pixel that would bin exactly (0.205' -> 0.41') keeps its grid with the Wiener filter; the
    # reason says how to get the network (--method miu2net bins it).
    method, why = choose_method(_shear(big, pixel=0.205), {})
    assert method == "wiener" and "--method miu2net bins them 2x2" in why["reason"]
    with pytest.raises(InputError, match="give --method"):
        choose_method(_shear(small_sample), {"smooth_arcmin": 1.0})


@pytest.mark.parametrize("args", [[], ["--noise-realisations", "3"],
                                  ["--method", "miu2net", "--noise-realisations", "2"]])
def test_one_reconstruction_loads_the_model_once(tmp_path, small_sample, monkeypatch, args):
    """The method contract binds the model once: the auto choice, every tile and every noise realisation
    share it (the weights are read from disk once and the loader is asked once)."""
    import safetensors.torch

    import miu2net.nn.inference as inference
    from miu2net.nn.checkpoint import clear_model_cache

    clear_model_cache()
    counts = {"weights_read": 0, "load_model": 0}
    read, load = safetensors.torch.load_file, inference.load_model

    def counting_read(*a, **k):
        counts["weights_read"] += 1
        return read(*a, **k)

    def counting_load(*a, **k):
        counts["load_model"] += 1
        return load(*a, **k)

    monkeypatch.setattr(safetensors.torch, "load_file", counting_read)
    monkeypatch.setattr(inference, "load_model", counting_load)
    path = write_shear_map(_shear(small_sample), tmp_path / "shear.fits")
    result = runner.invoke(app, ["reconstruct", str(path), "-o", str(tmp_path / "kappa.fits"), *args])
    assert result.exit_code == 0, result.output
    assert counts == {"weights_read": 1, "load_model": 1}, f"the model was loaded {counts} times"
