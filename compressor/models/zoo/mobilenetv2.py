"""MobileNetV2 (Sandler et al. 2018) for 32x32 inputs, as in the ARD / RSLAD code: stride-1 stem and first stages.

Parameter names follow that code (kuangliu/pytorch-cifar: conv1, bn1, layers.N, conv2, bn2, linear).
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from timm.models import register_model
from torch import Tensor, nn

from ._base import ZooClassifier
from ._factory import CIFAR10_MEAN, CIFAR10_STD, build_zoo_model, zoo_cfg

SMOKE_MODELS = ("cifar_mobilenetv2",)  # small enough for smoke mode to keep (compressor.models.catalog)
default_cfgs = {
    "cifar_mobilenetv2": zoo_cfg(
        input_size=(3, 32, 32),
        mean=CIFAR10_MEAN,
        std=CIFAR10_STD,
        first_conv="conv1",
        classifier="linear",
        description="MobileNetV2 with a stride-1 stem for CIFAR (ARD / RSLAD student)",
    ),
}

# (expansion, out_planes, blocks, first stride); the second stage keeps stride 1 on 32x32 inputs.
_STAGES = (
    (1, 16, 1, 1),
    (6, 24, 2, 1),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


class InvertedResidual(nn.Module):
    """1x1 expand, 3x3 depthwise, 1x1 project; a residual (1x1 conv + BN if widths differ) at stride 1."""

    def __init__(self, in_planes: int, out_planes: int, expansion: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        planes = expansion * in_planes
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, groups=planes, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.shortcut = nn.Sequential()
        if stride == 1 and in_planes != out_planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, out_planes, 1, bias=False), nn.BatchNorm2d(out_planes)
            )

    def forward(self, x: Tensor) -> Tensor:
        """Inverted residual block (linear bottleneck)."""
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return out + self.shortcut(x) if self.stride == 1 else out


class CifarMobileNetV2(ZooClassifier):
    """A 32-channel stride-1 stem, seven stages of inverted residuals, and a 1280-channel 1x1 conv."""

    classifier_name = "linear"

    def __init__(self, num_classes: int = 10, in_chans: int = 3) -> None:
        super().__init__()
        self.num_classes, self.num_features = num_classes, 1280
        self.conv1 = nn.Conv2d(in_chans, 32, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        blocks, in_planes = [], 32
        for expansion, out_planes, count, stride in _STAGES:
            for i in range(count):
                blocks.append(InvertedResidual(in_planes, out_planes, expansion, stride if i == 0 else 1))
                in_planes = out_planes
        self.layers = nn.Sequential(*blocks)
        self.conv2 = nn.Conv2d(320, 1280, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(1280)
        self.linear = nn.Linear(1280, num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        """The 1280-channel map before pooling."""
        x = self.layers(F.relu(self.bn1(self.conv1(x))))
        return F.relu(self.bn2(self.conv2(x)))


@register_model
def cifar_mobilenetv2(pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """MobileNetV2 for CIFAR-sized inputs (~2.3M parameters)."""
    return build_zoo_model(
        CifarMobileNetV2, "cifar_mobilenetv2", default_cfgs["cifar_mobilenetv2"], pretrained, kwargs
    )
