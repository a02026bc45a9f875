"""CIFAR-10 (torchvision): 50k/10k colour 32x32 images, 10 classes."""

from __future__ import annotations

from compressor.data.registry import register_dataset
from compressor.data.sets._torchvision import TorchvisionSet


@register_dataset
class CIFAR10(TorchvisionSet):
    name = "cifar10"
    description = "CIFAR-10 (torchvision): 50k/10k colour 32x32 images, 10 classes"
    num_classes, channels, image_size = 10, 3, 32
    torchvision_class = "CIFAR10"
