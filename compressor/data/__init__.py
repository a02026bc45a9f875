"""Data for a recipe: train batches on the device, a validation split carved from train, the test split."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from compressor.config.schema import DataConfig
from compressor.data import sources
from compressor.data.batches import TensorBatches
from compressor.data.sources import Split, as_float
from compressor.errors import UserInputError

_SPLIT_SEED = 1234


@dataclass
class DataBundle:
    """What the trainer and evaluation need from a data set."""

    train: Split | None
    val: Split
    test: Split
    class_names: list[str]
    in_chans: int
    image_size: int
    folder_train: Any = None  # a torch Dataset for ImageFolder data

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def _carve_validation(train: Split, fraction: float) -> tuple[Split, Split]:
    """Split a fixed, seeded fraction off the training set for model selection."""
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(_SPLIT_SEED))
    n_val = max(1, int(round(len(train) * fraction)))
    return train.subset(order[n_val:]), train.subset(order[:n_val])


def _stack(dataset: Any, limit: int | None) -> Split:
    n = len(dataset) if limit is None else min(limit, len(dataset))
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(_SPLIT_SEED))[:n]
    items = [dataset[int(i)] for i in order]
    return Split(torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items]))


def _reshape(split: Split, size: int | None, channels: int | None) -> Split:
    """Resize (bilinear) and/or repeat grey to RGB, e.g. digits for a CLIP model that takes 32px RGB."""
    x = split.x
    if size is not None and size != x.shape[-1]:
        x = torch.nn.functional.interpolate(
            as_float(x), size=(size, size), mode="bilinear", align_corners=False
        )
        x = x.clamp_(0, 1)
    if channels == 3 and x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1).contiguous()
    return Split(x, split.y)


_VAL_IMAGES = 1000  # validation images held in memory for an ImageFolder set (model selection uses 512)


def _image_folder(cfg: DataConfig) -> DataBundle:
    """ImageFolder: validation carved (seeded) from train/ and left out of training; test from val/ or test/."""
    from torch.utils.data import Subset

    train_ds = sources.image_folder(cfg, "train", train=True)
    order = torch.randperm(len(train_ds), generator=torch.Generator().manual_seed(_SPLIT_SEED))
    if cfg.limit_train is not None:
        order = order[: cfg.limit_train]
    n_val = max(1, int(round(len(order) * cfg.val_fraction)))
    if n_val >= len(order):
        raise UserInputError(
            f"data: {len(order)} training images leave none to train on after data.val_fraction {cfg.val_fraction}"
        )
    plain = sources.image_folder(cfg, "train", train=False)  # validation images without augmentation
    val = _stack(Subset(plain, order[:n_val].tolist()), _VAL_IMAGES)
    test_name = "val" if (cfg.root is not None and (cfg.root / "val").is_dir()) else "test"
    test = _stack(sources.image_folder(cfg, test_name, train=False), cfg.limit_test or 1000)
    names = cfg.class_names or list(train_ds.classes)
    folder_train = Subset(train_ds, order[n_val:].tolist())
    return DataBundle(None, val, test, names, 3, cfg.image_size or 224, folder_train=folder_train)


def load_data(cfg: DataConfig, seed: int = 0) -> DataBundle:
    """Load the recipe's data set; validation is carved from train, the test split never selects a model."""
    if cfg.dataset == "imagefolder":
        return _image_folder(cfg)
    if cfg.dataset == "digits":
        train, test, names = sources.digits()
    elif cfg.dataset == "synthetic":
        train, test, names = sources.synthetic(cfg, seed)
    else:
        train, test, names = sources.torchvision_tensors(cfg)
    if cfg.limit_train is not None:
        train = train.subset(torch.arange(min(cfg.limit_train, len(train))))
    if cfg.limit_test is not None:
        test = test.subset(torch.arange(min(cfg.limit_test, len(test))))
    if cfg.image_size is not None or cfg.channels is not None:
        train, test = (
            _reshape(train, cfg.image_size, cfg.channels),
            _reshape(test, cfg.image_size, cfg.channels),
        )
    train, val = _carve_validation(train, cfg.val_fraction)
    return DataBundle(
        train, val, test, cfg.class_names or names, int(train.x.shape[1]), int(train.x.shape[-1])
    )


class FolderBatches:
    """DataLoader-backed batches for ImageFolder data, with the same interface as TensorBatches."""

    def __init__(
        self,
        dataset: Any,
        batch_size: int,
        *,
        device: torch.device,
        workers: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

        gen = torch.Generator().manual_seed(seed)
        self.sampler: Any = (
            DistributedSampler(dataset, world_size, rank, seed=seed)
            if world_size > 1
            else RandomSampler(dataset, generator=gen)
        )
        self.loader = DataLoader(
            dataset,
            batch_size,
            sampler=self.sampler,
            num_workers=workers,
            pin_memory=device.type == "cuda",
            drop_last=True,
            persistent_workers=workers > 0,
        )
        self.device = device

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        for x, y in self.loader:
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)


def train_batches(
    data: DataBundle, cfg: DataConfig, *, device: torch.device, seed: int, rank: int = 0, world_size: int = 1
) -> TensorBatches | FolderBatches:
    """Training batches on `device` (tensor data moved to the GPU once when it fits)."""
    if data.train is None:
        return FolderBatches(
            data.folder_train,
            cfg.batch_size,
            device=device,
            workers=cfg.num_workers,
            seed=seed,
            rank=rank,
            world_size=world_size,
        )
    on_device = cfg.on_device if isinstance(cfg.on_device, bool) else device.type == "cuda"
    return TensorBatches(
        data.train,
        cfg.batch_size,
        device=device,
        shuffle=True,
        seed=seed,
        augment=cfg.augment,
        drop_last=len(data.train) > cfg.batch_size,
        rank=rank,
        world_size=world_size,
        on_device=on_device,
    )


def eval_batches(split: Split, batch_size: int, device: torch.device) -> Iterator[tuple[Tensor, Tensor]]:
    """Ordered float batches of a split on `device`."""
    for start in range(0, len(split), batch_size):
        yield (
            as_float(split.x[start : start + batch_size]).to(device),
            split.y[start : start + batch_size].to(device),
        )


__all__ = ["DataBundle", "Split", "as_float", "eval_batches", "load_data", "train_batches"]
