"""Fashion-MNIST (torchvision's FashionMNIST): 60k/10k grey 28x28 pictures of clothes, 10 classes."""

from __future__ import annotations

from compressor.data.registry import register_dataset
from compressor.data.sets._torchvision import TorchvisionSet


@register_dataset
class FashionMNIST(TorchvisionSet):
    name = "fashion_mnist"
    description = "Fashion-MNIST (torchvision): 60k/10k grey 28x28 clothes, 10 classes"
    num_classes, channels, image_size = 10, 1, 28
    torchvision_class = "FashionMNIST"
