"""CIFAR-100 (torchvision): 50k/10k colour 32x32 images, 100 classes."""

from __future__ import annotations

from compressor.data.registry import register_dataset
from compressor.data.sets._torchvision import TorchvisionSet


@register_dataset
class CIFAR100(TorchvisionSet):
    name = "cifar100"
    description = "CIFAR-100 (torchvision): 50k/10k colour 32x32 images, 100 classes"
    num_classes, channels, image_size = 100, 3, 32
    torchvision_class = "CIFAR100"
