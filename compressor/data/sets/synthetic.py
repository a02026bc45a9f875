"""Learnable random data of any shape (data.synthetic): each class a fixed random template plus noise."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from compressor.data.registry import DataSet, register_dataset

if TYPE_CHECKING:
    from compressor.config.schema import DataConfig


@register_dataset
class Synthetic(DataSet):
    name = "synthetic"
    description = "random class templates plus noise, shaped by data.synthetic (smoke runs, tests)"

    def classes(self, cfg: DataConfig) -> int | None:
        return len(cfg.class_names) if cfg.class_names else cfg.synthetic.num_classes

    def geometry(self, cfg: DataConfig) -> tuple[int | None, int | None]:
        return cfg.channels or cfg.synthetic.channels, cfg.image_size or cfg.synthetic.image_size

    def load(self, cfg: DataConfig, seed: int) -> Any:
        from compressor.data.bundle import from_tensors
        from compressor.data.sources import synthetic

        return from_tensors(cfg, *synthetic(cfg, seed))
