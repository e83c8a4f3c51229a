r"""Training on maps simulated on the fly (:mod:`miu2net.sims.stream`), served to PyTorch Lightning.

:class:`StreamingSimDataset` is the simulator's :class:`miu2net.sims.stream.SimulationStream` as a torch
``Dataset`` (keys ``(epoch, index)``; see there for the seeding, the per-sample depth and the shared
truth boxes).
:class:`StreamSampler` yields the keys ``(epoch, i)`` of one epoch for one device (``i`` from ``rank``
in steps of ``world_size``); Lightning calls its ``set_epoch`` at the start of every epoch (also after
a resume), so the epoch reaches the DataLoader workers with the keys, whatever their number.
:class:`StreamingDataModule` trains on a stream and validates (and tests) on a fixed store.
"""

from __future__ import annotations

from typing import Any

from torch.utils.data import DataLoader, Dataset, Sampler
from torch.utils.data.distributed import DistributedSampler

from miu2net.errors import InputError
from miu2net.nn.data import MassMapDataModule, TrainingView, describe_dataset, open_splits
from miu2net.sims.dataset import read_config
from miu2net.sims.stream import CALIBRATION_STREAM, TRAIN_STREAM, SimulationStream

__all__ = ["CALIBRATION_STREAM", "TRAIN_STREAM", "StreamSampler", "StreamingDataModule", "StreamingSimDataset",
           "stream_from_path"]


class StreamingSimDataset(SimulationStream, Dataset):
    """:class:`miu2net.sims.stream.SimulationStream` as a torch ``Dataset`` (same arguments)."""


class StreamSampler(Sampler):
    """Keys ``(epoch, i)`` of one epoch of ``n`` samples, for device ``rank`` of ``world_size`` (module docstring).

    Each device gets ``n // world_size`` keys (``i = rank, rank + world_size, ...``).
    """

    def __init__(self, n: int, *, rank: int = 0, world_size: int = 1) -> None:
        if world_size < 1 or not 0 <= rank < world_size:
            raise InputError(f"rank {rank} of world_size {world_size} is not a device")
        self.n = int(n)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n // self.world_size

    def __iter__(self):
        count = len(self)
        for k in range(count):
            yield (self.epoch, self.rank + k * self.world_size)


class StreamingDataModule(MassMapDataModule):
    """Train on a :class:`StreamingSimDataset`, validate and test on fixed data sets (module docstring).

    An epoch is ``steps_per_epoch`` batches of ``batch_size`` fresh maps on each device. Augmentation and
    fresh noise are off for the stream (every map is new anyway). The Trainer must be built with
    ``use_distributed_sampler=False`` (:func:`miu2net.nn.module.fit` does so), since this module gives
    each device its own keys; the validation set is then split over devices here.
    """

    #: The Trainer must not replace this module's samplers (see the class docstring).
    own_samplers = True

    def __init__(self, stream: StreamingSimDataset, val: Any, test: Any = None, *, steps_per_epoch: int = 500,
                 batch_size: int = 16, num_workers: int = 0, pin_memory: bool = False,
                 wiener_pixel_arcmin: float | None = None) -> None:
        if steps_per_epoch < 1:
            raise InputError(f"steps_per_epoch must be >= 1; got {steps_per_epoch}")
        self.steps_per_epoch = int(steps_per_epoch)
        stream.length = self.steps_per_epoch * int(batch_size)
        super().__init__(stream, val, test, batch_size=batch_size, num_workers=num_workers, augment=False,
                         fresh_noise=False, pin_memory=pin_memory, wiener_pixel_arcmin=wiener_pixel_arcmin)

    @classmethod
    def from_train_config(cls, config: Any, *, pin_memory: bool = False) -> StreamingDataModule:
        """From a :class:`miu2net.config.TrainConfig` with ``stream`` set: validation on ``config.data``'s
        val split, the simulation configuration from ``stream.sim_config`` or that store."""
        from miu2net.config import load_config

        s = config.stream
        if config.data is None:
            raise InputError("--stream validates on a fixed store: give --data")
        splits = open_splits(config.data)
        if s.sim_config is not None:
            sim_config = load_config(s.sim_config)
        else:
            store_config = getattr(splits["val"], "config", None)
            meta = getattr(splits["val"], "meta", {}) or {}
            if store_config is None:
                raise InputError(f"{config.data} records no simulation configuration (an .npz); give "
                                 "stream.sim_config (--sim-config) for --stream")
            if (meta.get("source") or {}).get("kind", "simulated") != "simulated":
                raise InputError(f"{config.data} holds user convergence maps, which cannot be streamed; give "
                                 "stream.sim_config (--sim-config) for --stream")
            sim_config = store_config
        val = splits["val"]
        if getattr(val, "pixel_arcmin", sim_config.survey.pixel_arcmin) != sim_config.survey.pixel_arcmin:
            raise InputError(f"the stream's pixel ({sim_config.survey.pixel_arcmin}') differs from the validation "
                             f"store's ({val.pixel_arcmin}')")
        inputs = config.inputs if config.inputs is not None else config.arch_kwargs.get("inputs", ())
        wiener = "wiener" in tuple(inputs or ())
        stream = StreamingSimDataset(sim_config, n_gal_arcmin2=s.n_gal_arcmin2, shape_noise_sigma=s.shape_noise_sigma,
                                     masked_fraction=s.masked_fraction, seed=config.seed,
                                     views_per_truth=s.views_per_truth, mixture=s.mixture,
                                     outer_mask=s.outer_mask, outer_mask_probability=s.outer_mask_probability,
                                     wiener=wiener, crop=s.crop, crops_per_map=s.crops_per_map)
        test = splits["test"] if len(splits["test"]) else None
        return cls(stream, val, test, steps_per_epoch=s.steps_per_epoch, batch_size=config.batch_size,
                   num_workers=config.num_workers, pin_memory=pin_memory,
                   wiener_pixel_arcmin=sim_config.survey.pixel_arcmin if wiener else None)

    @property
    def info(self) -> dict:
        """:func:`describe_dataset` of 32 streamed samples, with the stream's full noise range."""
        if self._info is None:
            info = describe_dataset(self.train_set, n_max=32)
            lo, hi = self.train_set.noise_range()
            info["noise_range"] = [min(lo, info["noise_range"][0]), max(hi, info["noise_range"][1])]
            info["stream"] = self.train_set.ranges
            info["n_samples"] = None
            self._info = info
        return self._info

    def _world(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return 0, 1
        return int(trainer.global_rank), int(trainer.world_size)

    def train_dataloader(self) -> DataLoader:
        rank, world = self._world()
        sampler = StreamSampler(self.steps_per_epoch * self.batch_size * world, rank=rank, world_size=world)
        view = TrainingView(self.train_set, wiener_pixel_arcmin=self.wiener_pixel_arcmin)
        return DataLoader(view, batch_size=self.batch_size, sampler=sampler, num_workers=self.num_workers,
                          drop_last=True, pin_memory=self.pin_memory, persistent_workers=self.num_workers > 0)

    def _fixed_loader(self, dataset: Any) -> DataLoader:
        rank, world = self._world()
        view = TrainingView(dataset, wiener_pixel_arcmin=self.wiener_pixel_arcmin)
        sampler = DistributedSampler(view, num_replicas=world, rank=rank, shuffle=False) if world > 1 else None
        return DataLoader(view, batch_size=self.batch_size, sampler=sampler, num_workers=self.num_workers,
                          pin_memory=self.pin_memory, persistent_workers=self.num_workers > 0)

    def val_dataloader(self) -> DataLoader:
        return self._fixed_loader(self.val_set)

    def test_dataloader(self) -> DataLoader:
        if self.test_set is None:
            raise InputError("this data module has no test set")
        return self._fixed_loader(self.test_set)


def stream_from_path(path: Any, **kwargs) -> StreamingSimDataset:
    """A :class:`StreamingSimDataset` with the simulation configuration of a Zarr store (``miu2net simulate``)."""
    return StreamingSimDataset(read_config(path), **kwargs)
