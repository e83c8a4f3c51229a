r"""Data for training: any map-style data set of samples -> (raw input, κ) tensors, in a LightningDataModule.

A *sample* is a dict of float ``[y, x]`` maps with at least ``kappa`` (truth), ``g1``, ``g2`` (observed,
noisy reduced shear, 0 where masked), ``mask`` and ``noise`` (per-component σ, 0 or inf where masked), as
returned by :class:`miu2net.sims.dataset.SimDataset` (the Zarr store written by ``miu2net simulate``),
by :class:`ArrayMapDataset` (in-memory arrays or an ``.npz`` file) or by anything with ``__len__`` and
``__getitem__`` returning such dicts. A data set may also carry ``pixel_arcmin`` and ``config`` /
``survey`` attributes, which are recorded with a trained model.

:class:`TrainingView` turns samples into ``(raw [4, ny, nx], kappa [1, ny, nx])`` float32 tensors
(:mod:`miu2net.nn.base`), with optional augmentation by the D4 symmetries (:mod:`miu2net.nn.augment`)
and optional *fresh noise*: a new Gaussian noise realisation of σ per component added to the noiseless
reduced shear (``g1_noiseless``, ``g2_noiseless``) each time a sample is read, so that training never
sees the same noise twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from miu2net.errors import InputError
from miu2net.nn.augment import RandomSymmetry
from miu2net.nn.base import WIENER_FIELD, raw_from_sample
from miu2net.physics.wiener import wiener_kappa

REQUIRED_KEYS = ("kappa", "g1", "g2", "mask", "noise")
NPZ_SPLIT_CODES = {"train": 0, "val": 1, "test": 2}


# ---- in-memory / npz data sets -------------------------------------------------------------------


class ArrayMapDataset:
    """Samples from stacked arrays ``{key: [n, ny, nx]}`` (e.g. loaded from an ``.npz``).

    Args:
        arrays: maps per key, all with the same first axis.
        pixel_arcmin: pixel side in arcmin.
        indices: which of the ``n`` samples this data set exposes (default all), e.g. a split.
        survey: optional survey configuration dict, recorded with a trained model.
    """

    def __init__(self, arrays: dict[str, np.ndarray], *, pixel_arcmin: float, indices: Sequence[int] | None = None,
                 survey: dict | None = None) -> None:
        self.arrays = {k: np.asarray(v) for k, v in arrays.items()}
        lengths = {k: v.shape[0] for k, v in self.arrays.items() if v.ndim == 3}
        if not lengths or len(set(lengths.values())) != 1:
            raise InputError(f"arrays must be [n, ny, nx] stacks of equal n; got {lengths}")
        n = next(iter(lengths.values()))
        self.indices = np.arange(n) if indices is None else np.asarray(indices, dtype=int)
        self.pixel_arcmin = float(pixel_arcmin)
        self.survey = survey

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        j = int(self.indices[int(index)])
        return {k: np.asarray(v[j], dtype=np.float32) for k, v in self.arrays.items() if v.ndim == 3}

    @property
    def fingerprint(self) -> str:
        h = hashlib.sha256()
        h.update(np.float64(self.pixel_arcmin).tobytes())
        for key in sorted(self.arrays):
            h.update(key.encode())
            h.update(np.ascontiguousarray(self.arrays[key][self.indices]).tobytes())
        return h.hexdigest()[:16]


def save_npz_dataset(path: str | Path, arrays: dict[str, np.ndarray], *, pixel_arcmin: float,
                     split: np.ndarray | None = None) -> Path:
    """Write stacked maps to an ``.npz`` that :func:`open_splits` reads.

    ``split`` gives each sample's split (0 train, 1 val, 2 test); default: the last 10 % val, the rest train.
    """
    n = next(iter(arrays.values())).shape[0]
    if split is None:
        split = np.zeros(n, dtype=np.int8)
        split[n - max(1, n // 10):] = 1
    path = Path(path)
    np.savez(path, pixel_arcmin=np.float64(pixel_arcmin), split=np.asarray(split, dtype=np.int8),
             **{k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()})
    return path


def _npz_splits(path: Path) -> dict[str, ArrayMapDataset]:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as exc:
        raise InputError(f"{path}: not a readable .npz file ({exc})") from None
    if "pixel_arcmin" not in arrays:
        raise InputError(f"{path}: no 'pixel_arcmin' entry")
    pixel = float(arrays.pop("pixel_arcmin"))
    split = arrays.pop("split", None)
    missing = [k for k in REQUIRED_KEYS if k not in arrays]
    if missing:
        raise InputError(f"{path}: missing map(s) {', '.join(missing)}")
    n = arrays["kappa"].shape[0]
    split = np.zeros(n, dtype=int) if split is None else np.asarray(split)
    return {name: ArrayMapDataset(arrays, pixel_arcmin=pixel, indices=np.flatnonzero(split == code))
            for name, code in NPZ_SPLIT_CODES.items()}


def open_splits(path: str | Path) -> dict[str, Any]:
    """``{"train", "val", "test"}`` data sets of a Zarr store (``miu2net simulate``) or an ``.npz`` file."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such data set")
    if path.suffix.lower() == ".npz":
        return _npz_splits(path)
    from miu2net.sims.dataset import SimDataset

    fields = ("kappa", "g1", "g2", "mask", "noise", "g1_noiseless", "g2_noiseless")
    return {split: SimDataset(path, split, fields=fields) for split in ("train", "val", "test")}


# ---- the training view ---------------------------------------------------------------------------


class TrainingView(Dataset):
    """A data set of samples seen as ``(raw [4, ny, nx], kappa [1, ny, nx])`` tensors (module docstring).

    Args:
        base: map-style data set of sample dicts.
        augment: apply a random D4 symmetry (correct spin-2 signs) to each sample.
        fresh_noise: draw a new noise realisation from ``g*_noiseless`` and ``noise`` each read.
        wiener_pixel_arcmin: for networks with the ``wiener`` input: the pixel (arcmin) of samples that do
            not carry ``kappa_wiener``, whose Wiener map is then computed from the sample itself (a fixed
            store's maps; streamed samples carry that of their whole field). None: no Wiener field.
    """

    def __init__(self, base: Any, *, augment: bool = False, fresh_noise: bool = False,
                 wiener_pixel_arcmin: float | None = None) -> None:
        self.base = base
        self.augment = RandomSymmetry() if augment else None
        self.fresh_noise = bool(fresh_noise)
        self.wiener_pixel_arcmin = wiener_pixel_arcmin

    def __len__(self) -> int:
        return len(self.base)

    def sample(self, index: int) -> dict:
        sample = dict(self.base[index])
        missing = [k for k in REQUIRED_KEYS if k not in sample]
        if missing:
            raise InputError(f"data set sample {index} lacks {', '.join(missing)}; has {', '.join(sample)}")
        if self.fresh_noise:
            if "g1_noiseless" not in sample or "g2_noiseless" not in sample:
                raise InputError("fresh_noise needs g1_noiseless and g2_noiseless in the samples")
            mask = np.asarray(sample["mask"]) > 0
            sigma = np.where(mask & np.isfinite(sample["noise"]), sample["noise"], 0.0)
            noise = torch.randn((2, *mask.shape), dtype=torch.float64).numpy() * sigma
            sample["g1"] = np.where(mask, sample["g1_noiseless"] + noise[0], 0.0)
            sample["g2"] = np.where(mask, sample["g2_noiseless"] + noise[1], 0.0)
        if self.wiener_pixel_arcmin is not None and WIENER_FIELD not in sample:
            sample[WIENER_FIELD] = wiener_kappa(sample["g1"], sample["g2"], sample["mask"], sample["noise"],
                                                pixel_arcmin=self.wiener_pixel_arcmin)
        if self.augment is not None:
            sample = self.augment(sample)
        return sample

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        sample = self.sample(index)
        raw = raw_from_sample(sample)
        kappa = np.asarray(sample["kappa"], dtype=np.float32)[None]
        return torch.from_numpy(raw), torch.from_numpy(np.ascontiguousarray(kappa))


# ---- what a model records of its data -----------------------------------------------------------


def _round(x: float, digits: int = 3) -> float:
    return float(f"{x:.{digits}g}")


def dataset_fingerprint(dataset: Any) -> str:
    """A short hash identifying a data set: its own ``fingerprint`` when it has one, the store's
    configuration and run id for a Zarr store, else a hash of its length and three samples."""
    if hasattr(dataset, "fingerprint"):
        return str(dataset.fingerprint)
    h = hashlib.sha256()
    meta = getattr(dataset, "meta", None)
    if isinstance(meta, dict):
        keep = {k: meta.get(k) for k in ("config", "source", "splits", "run_id")}
        h.update(json.dumps(keep, sort_keys=True, default=str).encode())
        h.update(str(getattr(dataset, "split", "")).encode())
        return h.hexdigest()[:16]
    n = len(dataset)
    h.update(str(n).encode())
    for i in sorted({0, n // 2, n - 1}):
        sample = dataset[i]
        for key in sorted(sample):
            h.update(key.encode())
            h.update(np.ascontiguousarray(sample[key], dtype=np.float32).tobytes())
    return h.hexdigest()[:16]


def describe_dataset(dataset: Any, *, n_max: int = 64) -> dict:
    """Geometry, normalisation and noise range of a (training) data set, from up to ``n_max`` samples.

    Returns a dict with ``map_size`` [ny, nx], ``pixel_arcmin`` (None when unknown), ``normalisation``
    (shear_scale: rms of the observed shear components; noise_ref: median σ of observed pixels;
    noise_clip: 4; kappa_scale: rms of κ), ``noise_range`` [min, max] of the per-map median σ,
    ``survey`` (dict or None), ``n_samples`` and ``fingerprint``.
    """
    n = len(dataset)
    if n == 0:
        raise InputError("the training set is empty")
    picks = np.unique(np.linspace(0, n - 1, min(n, n_max)).astype(int))
    g_sq, g_count, kappa_sq, kappa_count, medians, sigmas = 0.0, 0, 0.0, 0, [], []
    shape = None
    for i in picks:
        s = dataset[int(i)]
        observed = (np.asarray(s["mask"]) > 0) & np.isfinite(s["noise"]) & (np.asarray(s["noise"]) > 0)
        shape = list(np.shape(s["kappa"]))
        g_sq += float(np.sum(np.asarray(s["g1"], dtype=np.float64)[observed] ** 2 + np.asarray(s["g2"], dtype=np.float64)[observed] ** 2))
        g_count += 2 * int(observed.sum())
        kappa = np.asarray(s["kappa"], dtype=np.float64)
        kappa_sq += float(np.sum((kappa - kappa.mean()) ** 2))
        kappa_count += kappa.size
        if observed.any():
            sig = np.asarray(s["noise"], dtype=np.float64)[observed]
            medians.append(float(np.median(sig)))
            sigmas.append(sig[:: max(1, sig.size // 2000)])
    if not medians:
        raise InputError("no observed pixel with a finite noise σ in the training samples")
    survey = getattr(dataset, "survey", None)
    config = getattr(dataset, "meta", {}).get("config") if isinstance(getattr(dataset, "meta", None), dict) else None
    if survey is None and config is not None:
        survey = config.get("survey")
    pixel = getattr(dataset, "pixel_arcmin", None)
    return {
        "map_size": shape,
        "pixel_arcmin": None if pixel is None else float(pixel),
        "normalisation": {
            "shear_scale": _round(np.sqrt(g_sq / max(g_count, 1))),
            "noise_ref": _round(float(np.median(np.concatenate(sigmas)))),
            "noise_clip": 4.0,
            "kappa_scale": _round(max(np.sqrt(kappa_sq / max(kappa_count, 1)), 1e-6)),
        },
        "noise_range": [float(min(medians)), float(max(medians))],
        "survey": survey,
        "n_samples": n,
        "fingerprint": dataset_fingerprint(dataset),
    }


# ---- the DataModule -----------------------------------------------------------------------------


class MassMapDataModule(L.LightningDataModule):
    """Train/val/test loaders over map-style data sets of samples (module docstring).

    Args:
        train, val, test: data sets (``test`` optional).
        batch_size: maps per batch (per device).
        num_workers: DataLoader worker processes.
        augment: random D4 symmetries on the training set.
        fresh_noise: new noise realisations on the training set.
        pin_memory: pin host memory (for GPU training).
        wiener_pixel_arcmin: pixel of the maps, for a network with the ``wiener`` input (samples without
            ``kappa_wiener`` get the Wiener map of their own map; :class:`TrainingView`); None: none.
    """

    def __init__(self, train: Any, val: Any, test: Any = None, *, batch_size: int = 16, num_workers: int = 0,
                 augment: bool = True, fresh_noise: bool = False, pin_memory: bool = False,
                 wiener_pixel_arcmin: float | None = None) -> None:
        super().__init__()
        if len(train) == 0 or len(val) == 0:
            raise InputError(f"need non-empty train and val sets; got {len(train)} and {len(val)} samples")
        self.train_set, self.val_set, self.test_set = train, val, test
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.augment = bool(augment)
        self.fresh_noise = bool(fresh_noise)
        self.pin_memory = bool(pin_memory)
        self.wiener_pixel_arcmin = wiener_pixel_arcmin
        self._info: dict | None = None

    @classmethod
    def from_path(cls, path: str | Path, **kwargs) -> MassMapDataModule:
        """From a Zarr store of ``miu2net simulate`` or an ``.npz`` of stacked maps (:func:`open_splits`)."""
        splits = open_splits(path)
        test = splits["test"] if len(splits["test"]) else None
        return cls(splits["train"], splits["val"], test, **kwargs)

    @property
    def info(self) -> dict:
        """:func:`describe_dataset` of the training set (computed once)."""
        if self._info is None:
            self._info = describe_dataset(self.train_set)
        return self._info

    def _loader(self, dataset: Any, *, train: bool) -> DataLoader:
        view = TrainingView(dataset, augment=train and self.augment, fresh_noise=train and self.fresh_noise,
                            wiener_pixel_arcmin=self.wiener_pixel_arcmin)
        return DataLoader(view, batch_size=self.batch_size, shuffle=train, num_workers=self.num_workers,
                          drop_last=train and len(view) >= self.batch_size, pin_memory=self.pin_memory,
                          persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, train=False)

    def test_dataloader(self) -> DataLoader:
        if self.test_set is None:
            raise InputError("this data module has no test set")
        return self._loader(self.test_set, train=False)
