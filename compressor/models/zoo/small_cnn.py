"""The small CNN of the MNIST robust-training literature (Carlini & Wagner 2017; TRADES, Zhang et al. 2019).

conv32-conv32-pool, conv64-conv64-pool, then fc200-fc200 and the classifier, with TRADES' parameter names.
Deviation: the convs are padded (`padding=1`) and the map is average-pooled to 4x4 before fc1, so one model
runs on 8x8 digits and 28x28 MNIST alike; `padding=0` gives TRADES' exact network on 28x28 inputs.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch.nn.functional as F
from timm.models import register_model
from torch import Tensor, nn

from ._base import ZooClassifier
from ._factory import MNIST_MEAN, MNIST_STD, build_zoo_model, zoo_cfg

SMOKE_MODELS = ("small_cnn",)  # small enough for smoke mode to keep (compressor.models.catalog)
default_cfgs = {
    "small_cnn": zoo_cfg(
        input_size=(1, 28, 28),
        mean=MNIST_MEAN,
        std=MNIST_STD,
        first_conv="feature_extractor.conv1",
        classifier="classifier.fc3",
        description="4-conv + 3-fc MNIST CNN of the robust-training literature (TRADES SmallCNN)",
    ),
}


def _conv(in_chans: int, out_chans: int, padding: int) -> nn.Conv2d:
    """A 3x3 conv with bias."""
    return nn.Conv2d(in_chans, out_chans, 3, padding=padding)


class SmallCNN(ZooClassifier):
    """Four 3x3 convs with two max-pools, then a 1024-200-200-classes MLP."""

    def __init__(
        self, num_classes: int = 10, in_chans: int = 1, drop_rate: float = 0.5, padding: int = 1
    ) -> None:
        super().__init__()
        self.num_classes, self.num_features = num_classes, 200
        self.feature_extractor = nn.Sequential(
            OrderedDict(
                conv1=_conv(in_chans, 32, padding),
                relu1=nn.ReLU(),
                conv2=_conv(32, 32, padding),
                relu2=nn.ReLU(),
                maxpool1=nn.MaxPool2d(2, 2),
                conv3=_conv(32, 64, padding),
                relu3=nn.ReLU(),
                conv4=_conv(64, 64, padding),
                relu4=nn.ReLU(),
                maxpool2=nn.MaxPool2d(2, 2),
            )
        )
        fc3 = nn.Linear(200, num_classes)
        nn.init.zeros_(fc3.weight)  # as TRADES: the logits start at zero
        nn.init.zeros_(fc3.bias)
        self.classifier = nn.Sequential(
            OrderedDict(
                fc1=nn.Linear(64 * 4 * 4, 200),
                relu1=nn.ReLU(),
                drop=nn.Dropout(drop_rate),
                fc2=nn.Linear(200, 200),
                relu2=nn.ReLU(),
                fc3=fc3,
            )
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        """The 64-channel map after the second pool."""
        return self.feature_extractor(x)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Pool to 4x4, then the MLP (stopping before the last layer when `pre_logits`)."""
        x = self.classifier[:-1](F.adaptive_avg_pool2d(x, 4).flatten(1))
        return x if pre_logits else self.classifier[-1](x)

    def get_classifier(self) -> nn.Module:
        """The last linear layer of the MLP."""
        return self.classifier[-1]


@register_model
def small_cnn(pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """The MNIST robust-training CNN (~0.31M parameters at 10 classes)."""
    return build_zoo_model(SmallCNN, "small_cnn", default_cfgs["small_cnn"], pretrained, kwargs)
