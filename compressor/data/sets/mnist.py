"""MNIST (torchvision): 60k/10k grey 28x28 handwritten digits."""

from __future__ import annotations

from compressor.data.class_names import DIGIT_NAMES
from compressor.data.registry import register_dataset
from compressor.data.sets._torchvision import TorchvisionSet


@register_dataset
class MNIST(TorchvisionSet):
    name = "mnist"
    description = "MNIST (torchvision): 60k/10k grey 28x28 handwritten digits"
    num_classes, channels, image_size = 10, 1, 28
    torchvision_class = "MNIST"

    def class_names(self, found: list[str]) -> list[str]:
        return DIGIT_NAMES  # torchvision's are "0 - zero", ...
