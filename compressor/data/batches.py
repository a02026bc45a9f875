"""Training batches: in-memory tensors batched on the training device, or a DataLoader over image files."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from compressor.data.sources import Split, as_float


def random_crop_flip(x: Tensor, generator: torch.Generator, *, pad: int, flip: bool) -> Tensor:
    """Random crop after zero padding and random horizontal flip, batched on x's device."""
    n, _, h, w = x.shape
    if pad > 0:
        dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device)
        dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device)
        x = _crop(F.pad(x, (pad, pad, pad, pad)), dy, dx, h, w)
    if flip:
        mask = torch.rand(n, generator=generator).to(x.device) < 0.5
        x = torch.where(mask.view(n, 1, 1, 1), x.flip(3), x)
    return x


def _crop(padded: Tensor, dy: Tensor, dx: Tensor, h: int, w: int) -> Tensor:
    n, c = padded.shape[:2]
    rows = dy.view(n, 1) + torch.arange(h, device=padded.device)
    cols = dx.view(n, 1) + torch.arange(w, device=padded.device)
    index = (rows.view(n, h, 1) * padded.shape[3] + cols.view(n, 1, w)).view(n, 1, h * w).expand(n, c, h * w)
    return padded.flatten(2).gather(2, index).view(n, c, h, w)


@dataclass(frozen=True)
class Shard:
    """This process's part of every epoch under DDP: rank `rank` of `world_size` (the whole set by default)."""

    rank: int = 0
    world_size: int = 1


class TensorBatches:
    """Shuffled, optionally augmented, optionally sharded (DDP) batches of an in-memory split."""

    def __init__(
        self,
        split: Split,
        batch_size: int,
        *,
        device: torch.device,
        shuffle: bool,
        seed: int = 0,
        augment: str = "none",
        drop_last: bool = False,
        shard: Shard = Shard(),
        on_device: bool = True,
    ) -> None:
        self.x = split.x.to(device) if on_device else split.x
        self.y = split.y.to(device) if on_device else split.y
        self.batch_size, self.device, self.shuffle, self.seed = batch_size, device, shuffle, seed
        self.augment, self.drop_last = augment, drop_last
        self.rank, self.world_size = shard.rank, shard.world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle deterministically for this epoch (same order on every rank)."""
        self.epoch = epoch

    def _indices(self) -> Tensor:
        n = len(self.y)
        if self.shuffle:
            order = torch.randperm(
                n, generator=torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
            )
        else:
            order = torch.arange(n)
        per_rank = n // self.world_size if self.world_size > 1 else n
        return order[self.rank * per_rank : (self.rank + 1) * per_rank] if self.world_size > 1 else order

    def __len__(self) -> int:
        n = len(self._indices())
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        order = self._indices()
        generator = torch.Generator().manual_seed(self.seed * 7919 + self.epoch * 131 + self.rank + 1)
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            if self.drop_last and len(index) < self.batch_size:
                return
            index = index.to(self.x.device)
            x = as_float(self.x[index].to(self.device, non_blocking=True))
            y = self.y[index].to(self.device, non_blocking=True)
            if self.augment != "none":
                pad = max(1, x.shape[-1] // 8)
                x = random_crop_flip(x, generator, pad=pad, flip=self.augment == "crop_flip")
            yield x, y


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
        shard: Shard = Shard(),
    ) -> None:
        from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

        gen = torch.Generator().manual_seed(seed)
        self.sampler: Any = (
            DistributedSampler(dataset, shard.world_size, shard.rank, seed=seed)
            if shard.world_size > 1
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
