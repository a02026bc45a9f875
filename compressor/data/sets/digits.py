"""scikit-learn's bundled 8x8 grey digits (1797 images): offline, in seconds, for quick starts and tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from compressor.data.registry import DataSet, register_dataset

if TYPE_CHECKING:
    from compressor.config.schema import DataConfig


@register_dataset
class Digits(DataSet):
    name = "digits"
    description = "scikit-learn's 8x8 grey digits (1797 images, bundled: no download)"
    num_classes, channels, image_size = 10, 1, 8

    def load(self, cfg: DataConfig, seed: int) -> Any:
        from compressor.data.bundle import from_tensors
        from compressor.data.sources import digits

        return from_tensors(cfg, *digits())
