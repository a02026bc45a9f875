"""Load the recipe's data set through the registry; batches for training and evaluation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from compressor.data.batches import FolderBatches, Shard, TensorBatches
from compressor.data.bundle import DataBundle
from compressor.data.registry import get_dataset
from compressor.data.sources import Split, as_float

if TYPE_CHECKING:
    from compressor.config.schema import DataConfig


def load_data(cfg: DataConfig, seed: int = 0) -> DataBundle:
    """Load the recipe's data set; validation is carved from train, the test split never selects a model."""
    data = get_dataset(cfg.dataset).load(cfg, seed)
    if not isinstance(data, DataBundle):
        raise TypeError(f"data set '{cfg.dataset}': load() returned {type(data).__name__}, not a DataBundle")
    data.record = {"dataset": cfg.dataset, **data.record}
    return data


def train_batches(
    data: DataBundle, cfg: DataConfig, *, device: torch.device, seed: int, shard: Shard = Shard()
) -> TensorBatches | FolderBatches:
    """Training batches on `device` (tensor data moved to the GPU once when it fits)."""
    if data.train is None:
        return FolderBatches(
            data.folder_train,
            cfg.batch_size,
            device=device,
            workers=cfg.num_workers,
            seed=seed,
            shard=shard,
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
        shard=shard,
        on_device=on_device,
    )


def eval_batches(split: Split, batch_size: int, device: torch.device) -> Iterator[tuple[Tensor, Tensor]]:
    """Ordered float batches of a split on `device`."""
    for start in range(0, len(split), batch_size):
        yield (
            as_float(split.x[start : start + batch_size]).to(device),
            split.y[start : start + batch_size].to(device),
        )
