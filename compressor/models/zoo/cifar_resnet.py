"""ResNet-18 for 32x32 inputs: a 3x3 stride-1 stem and no max-pool, as in the RSLAD / CIARD / RobustBench code.

Parameter names follow RobustBench's `ResNet` (conv1, bn1, layer1-4, linear) so its checkpoints load.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from timm.models import register_model
from torch import Tensor, nn

from ._base import ZooClassifier, make_stage
from ._factory import CIFAR10_MEAN, CIFAR10_STD, build_zoo_model, zoo_cfg

default_cfgs = {
    "cifar_resnet18": zoo_cfg(
        input_size=(3, 32, 32),
        mean=CIFAR10_MEAN,
        std=CIFAR10_STD,
        first_conv="conv1",
        classifier="linear",
        description="ResNet-18 with a 3x3 stem and no max-pool (He et al. 2016, CIFAR variant)",
    ),
}


class PadShortcut(nn.Module):
    """He et al.'s option-A shortcut: subsample by 2 and zero-pad the new channels (no parameters)."""

    def __init__(self, extra_channels: int) -> None:
        super().__init__()
        self.extra_channels = extra_channels

    def forward(self, x: Tensor) -> Tensor:
        """Halve the resolution and append zero channels."""
        half = self.extra_channels // 2
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, half, self.extra_channels - half))


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual; when the shape changes, a 1x1 conv + BN shortcut (or option A)."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1, pad_shortcut: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module = nn.Sequential()
        if (stride != 1 or in_planes != planes) and pad_shortcut:
            self.shortcut = PadShortcut(planes - in_planes)
        elif stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: Tensor) -> Tensor:
        """Post-activation residual block."""
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(ZooClassifier):
    """Four stages of basic blocks (64-128-256-512 channels) on a 3x3 stem."""

    classifier_name = "linear"

    def __init__(self, layers: tuple[int, ...], num_classes: int = 10, in_chans: int = 3) -> None:
        super().__init__()
        self.num_classes, self.num_features = num_classes, 512
        self.conv1 = nn.Conv2d(in_chans, 64, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = make_stage(BasicBlock, 64, 64, layers[0], 1)
        self.layer2 = make_stage(BasicBlock, 64, 128, layers[1], 2)
        self.layer3 = make_stage(BasicBlock, 128, 256, layers[2], 2)
        self.layer4 = make_stage(BasicBlock, 256, 512, layers[3], 2)
        self.linear = nn.Linear(512, num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        """The 512-channel map after the last stage."""
        x = F.relu(self.bn1(self.conv1(x)))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


@register_model
def cifar_resnet18(pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """ResNet-18 for CIFAR-sized inputs (~11.2M parameters)."""
    return build_zoo_model(
        CifarResNet, "cifar_resnet18", default_cfgs["cifar_resnet18"], pretrained, kwargs, layers=(2, 2, 2, 2)
    )
