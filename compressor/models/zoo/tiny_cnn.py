"""A student of a few thousand parameters for digits / MNIST, small enough to distil in seconds on a CPU."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from timm.models import register_model
from torch import Tensor, nn

from ._base import ZooClassifier
from ._factory import MNIST_MEAN, MNIST_STD, build_zoo_model, zoo_cfg

SMOKE_MODELS = ("tiny_cnn",)  # small enough for smoke mode to keep (compressor.models.catalog)
default_cfgs = {
    "tiny_cnn": zoo_cfg(
        input_size=(1, 28, 28),
        mean=MNIST_MEAN,
        std=MNIST_STD,
        first_conv="conv1",
        classifier="fc",
        description="Two-conv student with ~6k parameters for digits / MNIST",
    ),
}


class TinyCNN(ZooClassifier):
    """conv(w)-BN-ReLU-pool, conv(2w)-BN-ReLU, average-pooled to pool x pool, one linear layer.

    The defaults (width 16, pool 2: ~6k parameters) suit 8x8 digits; width 32, pool 4 (~29k parameters,
    11x fewer than SmallCNN) is the MNIST student with the capacity for eps 0.3.
    """

    def __init__(self, num_classes: int = 10, in_chans: int = 1, width: int = 16, pool: int = 2) -> None:
        super().__init__()
        self.pool = pool
        self.num_classes, self.num_features = num_classes, 2 * width * pool * pool
        self.conv1 = nn.Conv2d(in_chans, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(2 * width)
        self.fc = nn.Linear(self.num_features, num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        """The 2w-channel map at half resolution."""
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        return F.relu(self.bn2(self.conv2(x)))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Pool to pool x pool (keeping coarse layout, which digits need) and classify."""
        x = F.adaptive_avg_pool2d(x, self.pool).flatten(1)
        return x if pre_logits else self.fc(x)


@register_model
def tiny_cnn(pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """A ~6k-parameter CNN student for digits / MNIST."""
    return build_zoo_model(TinyCNN, "tiny_cnn", default_cfgs["tiny_cnn"], pretrained, kwargs)
