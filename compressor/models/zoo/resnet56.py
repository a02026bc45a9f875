"""ResNet-56: the 3-stage CIFAR ResNet of He et al. 2016 (16-32-64 channels, 9 blocks each, option-A shortcuts).

Parameter names follow the widely used akamaster/pytorch_resnet_cifar10 code (conv1, bn1, layer1-3, linear).
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from timm.models import register_model
from torch import Tensor, nn

from ._base import ZooClassifier, make_stage
from ._factory import CIFAR10_MEAN, CIFAR10_STD, build_zoo_model, zoo_cfg
from .cifar_resnet import BasicBlock

SMOKE_MODELS = ("resnet56",)  # small enough for smoke mode to keep (compressor.models.catalog)
default_cfgs = {
    "resnet56": zoo_cfg(
        input_size=(3, 32, 32),
        mean=CIFAR10_MEAN,
        std=CIFAR10_STD,
        first_conv="conv1",
        classifier="linear",
        description="ResNet-56 for CIFAR (He et al. 2016, section 4.2; parameter-free shortcuts)",
    ),
}


def _block(in_planes: int, planes: int, stride: int) -> BasicBlock:
    """A basic block with the zero-padding shortcut of the paper."""
    return BasicBlock(in_planes, planes, stride, pad_shortcut=True)


class ThreeStageResNet(ZooClassifier):
    """He et al.'s CIFAR ResNet-(6n+2): three stages of n basic blocks on a 16-channel 3x3 stem."""

    classifier_name = "linear"

    def __init__(self, blocks: int, num_classes: int = 10, in_chans: int = 3) -> None:
        super().__init__()
        self.num_classes, self.num_features = num_classes, 64
        self.conv1 = nn.Conv2d(in_chans, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = make_stage(_block, 16, 16, blocks, 1)
        self.layer2 = make_stage(_block, 16, 32, blocks, 2)
        self.layer3 = make_stage(_block, 32, 64, blocks, 2)
        self.linear = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                nn.init.kaiming_normal_(m.weight)

    def forward_features(self, x: Tensor) -> Tensor:
        """The 64-channel map after the last stage."""
        x = F.relu(self.bn1(self.conv1(x)))
        return self.layer3(self.layer2(self.layer1(x)))


@register_model
def resnet56(pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """ResNet-56 for CIFAR-sized inputs (~0.85M parameters)."""
    return build_zoo_model(
        ThreeStageResNet, "resnet56", default_cfgs["resnet56"], pretrained, kwargs, blocks=9
    )
