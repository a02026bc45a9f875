"""Pre-activation ResNet-18 for 32x32 inputs (He et al. 2016, "Identity Mappings in Deep Residual Networks").

The default is the variant of Rice et al. 2020 (robust overfitting) used across the adversarial-training
literature: the projection shortcut reads the pre-activated input and a final BN-ReLU precedes pooling.
`shortcut_after_act=False, final_norm=False` gives the variant of Wong et al. 2020 ("fast is better than
free"). Parameter names follow RobustBench's `PreActResNet` (conv1, layer1-4, bn, linear) so both load.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from timm.models import register_model
from torch import Tensor, nn

from ._base import ZooClassifier, make_stage
from ._factory import CIFAR10_MEAN, CIFAR10_STD, build_zoo_model, zoo_cfg

default_cfgs = {
    "preact_resnet18": zoo_cfg(
        input_size=(3, 32, 32),
        mean=CIFAR10_MEAN,
        std=CIFAR10_STD,
        first_conv="conv1",
        classifier="linear",
        description="Pre-activation ResNet-18 with a 3x3 stem (He et al. 2016; Rice et al. 2020)",
    ),
}


class PreActBlock(nn.Module):
    """BN-ReLU-conv twice, with an identity or 1x1-conv shortcut."""

    def __init__(self, in_planes: int, planes: int, stride: int, shortcut_after_act: bool) -> None:
        super().__init__()
        self.shortcut_after_act = shortcut_after_act
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.shortcut: nn.Sequential | None = None
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        """Pre-activation residual block."""
        out = F.relu(self.bn1(x))
        shortcut = x
        if self.shortcut is not None:
            shortcut = self.shortcut(out if self.shortcut_after_act else x)
        out = self.conv2(F.relu(self.bn2(self.conv1(out))))
        return out + shortcut


class PreActResNet(ZooClassifier):
    """Four stages of pre-activation blocks (64-128-256-512 channels) on a 3x3 stem."""

    classifier_name = "linear"

    def __init__(
        self,
        layers: tuple[int, ...],
        num_classes: int = 10,
        in_chans: int = 3,
        shortcut_after_act: bool = True,
        final_norm: bool = True,
    ) -> None:
        super().__init__()
        self.num_classes, self.num_features = num_classes, 512

        def block(in_planes: int, planes: int, stride: int) -> PreActBlock:
            return PreActBlock(in_planes, planes, stride, shortcut_after_act)

        self.conv1 = nn.Conv2d(in_chans, 64, 3, stride=1, padding=1, bias=False)
        self.layer1 = make_stage(block, 64, 64, layers[0], 1)
        self.layer2 = make_stage(block, 64, 128, layers[1], 2)
        self.layer3 = make_stage(block, 128, 256, layers[2], 2)
        self.layer4 = make_stage(block, 256, 512, layers[3], 2)
        self.bn = nn.BatchNorm2d(512) if final_norm else None
        self.linear = nn.Linear(512, num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        """The 512-channel map after the last stage (and the final BN-ReLU when present)."""
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.conv1(x)))))
        return x if self.bn is None else F.relu(self.bn(x))


@register_model
def preact_resnet18(pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """Pre-activation ResNet-18 for CIFAR-sized inputs (~11.2M parameters)."""
    return build_zoo_model(
        PreActResNet,
        "preact_resnet18",
        default_cfgs["preact_resnet18"],
        pretrained,
        kwargs,
        layers=(2, 2, 2, 2),
    )
