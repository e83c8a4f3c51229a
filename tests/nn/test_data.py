"""Training data: stacked-array data sets, the .npz format and its splits, the training view, fingerprints."""

import numpy as np
import pytest
import torch

from miu2net.errors import InputError
from miu2net.nn.data import (
    ArrayMapDataset,
    TrainingView,
    dataset_fingerprint,
    describe_dataset,
    open_splits,
    save_npz_dataset,
)
from miu2net.sims.synthetic import synthetic_maps

PIXEL = 0.82


@pytest.fixture(scope="module")
def tiny_maps():
    return synthetic_maps(10, 32, pixel_arcmin=PIXEL, seed=11)


def test_training_view_tensors(tiny_maps):
    view = TrainingView(ArrayMapDataset(tiny_maps, pixel_arcmin=PIXEL), augment=True, fresh_noise=True)
    raw, kappa = view[0]
    assert raw.shape == (4, 32, 32) and kappa.shape == (1, 32, 32) and raw.dtype == torch.float32
    masked = raw[2] == 0
    assert float(raw[:2, masked].abs().max()) == 0.0, "masked pixels must hold 0 shear"
    assert float(raw[3, masked].abs().max()) == 0.0, "masked pixels carry no noise information"
    assert not torch.equal(view[0][0], view[0][0]), "fresh noise draws a new realisation each read"


def test_array_data_set_exposes_its_indices(tiny_maps):
    data = ArrayMapDataset(tiny_maps, pixel_arcmin=PIXEL, indices=[3, 7])
    assert len(data) == 2 and data.pixel_arcmin == PIXEL
    np.testing.assert_array_equal(data[1]["kappa"], tiny_maps["kappa"][7])
    assert set(data[0]) == set(tiny_maps) and data[0]["g1"].dtype == np.float32
    with pytest.raises(InputError, match=r"arrays must be \[n, ny, nx\] stacks of equal n"):
        ArrayMapDataset({"kappa": np.zeros((3, 8, 8)), "g1": np.zeros((4, 8, 8))}, pixel_arcmin=1.0)


def test_npz_round_trip_and_default_split(tiny_maps, tmp_path):
    path = save_npz_dataset(tmp_path / "maps.npz", tiny_maps, pixel_arcmin=PIXEL)
    splits = open_splits(path)
    assert (len(splits["train"]), len(splits["val"]), len(splits["test"])) == (9, 1, 0), "last 10 % validate"
    np.testing.assert_array_equal(splits["val"][0]["kappa"], tiny_maps["kappa"][9])
    assert splits["train"].pixel_arcmin == PIXEL
    split = np.array([0, 0, 1, 2, 2, 2, 0, 1, 0, 0])
    splits = open_splits(save_npz_dataset(tmp_path / "s.npz", tiny_maps, pixel_arcmin=PIXEL, split=split))
    assert (len(splits["train"]), len(splits["val"]), len(splits["test"])) == (5, 2, 3)


def test_bad_npz_files_are_refused(tmp_path):
    with pytest.raises(InputError, match="no such data set"):
        open_splits(tmp_path / "absent.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a readable .npz file"):
        open_splits(tmp_path / "junk.npz")
    np.savez(tmp_path / "nopixel.npz", kappa=np.zeros((2, 8, 8)))
    with pytest.raises(InputError, match="no 'pixel_arcmin' entry"):
        open_splits(tmp_path / "nopixel.npz")
    np.savez(tmp_path / "partial.npz", pixel_arcmin=1.0, kappa=np.zeros((2, 8, 8)), g1=np.zeros((2, 8, 8)))
    with pytest.raises(InputError, match="missing map"):
        open_splits(tmp_path / "partial.npz")


def test_fingerprint_identifies_the_data(tiny_maps):
    a = ArrayMapDataset(tiny_maps, pixel_arcmin=PIXEL)
    assert dataset_fingerprint(a) == dataset_fingerprint(ArrayMapDataset(tiny_maps, pixel_arcmin=PIXEL))
    assert dataset_fingerprint(a) != dataset_fingerprint(ArrayMapDataset(tiny_maps, pixel_arcmin=0.41))
    assert dataset_fingerprint(a) != dataset_fingerprint(ArrayMapDataset(tiny_maps, pixel_arcmin=PIXEL, indices=[0, 1]))
    plain = [a[i] for i in range(len(a))]  # a plain list of samples: hashed from its length and three samples
    assert dataset_fingerprint(plain) == dataset_fingerprint(list(plain)) and len(dataset_fingerprint(plain)) == 16


def test_describe_dataset_measures_the_normalisation(tiny_maps):
    info = describe_dataset(ArrayMapDataset(tiny_maps, pixel_arcmin=PIXEL))
    assert info["map_size"] == [32, 32] and info["pixel_arcmin"] == PIXEL and info["n_samples"] == 10
    norm = info["normalisation"]
    kappa_rms = np.sqrt(np.mean(tiny_maps["kappa"].astype(np.float64) ** 2))
    assert norm["kappa_scale"] == pytest.approx(kappa_rms, rel=0.01)
    sigma = 0.4 / np.sqrt(2) / np.sqrt(50.0 * PIXEL**2)  # synthetic_maps' uniform pixel noise
    assert norm["noise_ref"] == pytest.approx(sigma, rel=0.01)
    assert info["noise_range"][0] == pytest.approx(sigma, rel=0.01) == info["noise_range"][1]
    with pytest.raises(InputError, match="the training set is empty"):
        describe_dataset([])


def test_training_view_without_augmentation_is_the_sample(tiny_maps):
    view = TrainingView(ArrayMapDataset(tiny_maps, pixel_arcmin=PIXEL))
    raw, kappa = view[2]
    np.testing.assert_allclose(kappa[0].numpy(), tiny_maps["kappa"][2])
    np.testing.assert_allclose(raw[0].numpy(), tiny_maps["g1"][2])
    assert torch.equal(view[2][0], raw), "fixed noise: the same realisation at each read"
    assert len(view) == 10
