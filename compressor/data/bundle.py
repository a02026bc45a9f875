"""What the trainer and evaluation get from a data set, and how in-memory tensors become one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from compressor.data.sources import Split, as_float

if TYPE_CHECKING:
    from compressor.config.schema import DataConfig

SPLIT_SEED = 1234  # the validation split is the same for every run seed


@dataclass
class DataBundle:
    """Train (tensors, or a torch Dataset for ImageFolder data), validation carved from train, test."""

    train: Split | None
    val: Split
    test: Split
    class_names: list[str]
    in_chans: int
    image_size: int
    folder_train: Any = None  # a torch Dataset for ImageFolder data
    record: dict[str, Any] = field(default_factory=dict)  # what was found, for the run's data.json

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def seeded_order(n: int) -> torch.Tensor:
    """The fixed permutation every split carving uses."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(SPLIT_SEED))


def _carve_validation(train: Split, fraction: float) -> tuple[Split, Split]:
    """Split a fixed, seeded fraction off the training set for model selection."""
    order = seeded_order(len(train))
    n_val = max(1, int(round(len(train) * fraction)))
    return train.subset(order[n_val:]), train.subset(order[:n_val])


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


def from_tensors(cfg: DataConfig, train: Split, test: Split, names: list[str]) -> DataBundle:
    """The recipe's limits and geometry applied to in-memory splits; validation carved from train."""
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
