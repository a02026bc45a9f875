"""Small-input architectures of the robust-distillation literature, registered in timm's model registry.

Importing this package is enough: `timm.create_model("cifar_resnet18", num_classes=10)` then works, and each
model carries a `pretrained_cfg` with the input size and normalisation it expects. No weights are shipped.
"""

from __future__ import annotations

from .cifar_resnet import cifar_resnet18
from .mobilenetv2 import cifar_mobilenetv2
from .preact_resnet import preact_resnet18
from .resnet56 import resnet56
from .small_cnn import small_cnn
from .tiny_cnn import tiny_cnn
from .wide_resnet import wide_resnet, wrn_28_10, wrn_34_10

ZOO_MODELS = (
    "cifar_resnet18",
    "preact_resnet18",
    "wrn_34_10",
    "wrn_28_10",
    "cifar_mobilenetv2",
    "resnet56",
    "small_cnn",
    "tiny_cnn",
)

__all__ = [
    "ZOO_MODELS",
    "cifar_mobilenetv2",
    "cifar_resnet18",
    "preact_resnet18",
    "resnet56",
    "small_cnn",
    "tiny_cnn",
    "wide_resnet",
    "wrn_28_10",
    "wrn_34_10",
]
