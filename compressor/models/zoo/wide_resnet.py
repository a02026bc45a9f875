"""WideResNet (Zagoruyko & Komodakis 2016) as in the TRADES / RobustBench code: WRN-34-10, WRN-28-10, any WRN-d-k.

Parameter names follow RobustBench's `WideResNet` (conv1, block1-3.layer.N, convShortcut, bn1, fc) so its
checkpoints load; the unused `sub_block1` some of them carry is dropped by the RobustBench loader.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from timm.models import register_model
from torch import Tensor, nn

from compressor.errors import UserInputError

from ._base import ZooClassifier, make_stage
from ._factory import CIFAR10_MEAN, CIFAR10_STD, build_zoo_model, zoo_cfg


def _wrn_cfg(depth: int, widen: int) -> dict[str, Any]:
    """The cfg of WRN-depth-widen on 32x32 inputs."""
    return zoo_cfg(
        input_size=(3, 32, 32),
        mean=CIFAR10_MEAN,
        std=CIFAR10_STD,
        first_conv="conv1",
        classifier="fc",
        description=f"WideResNet-{depth}-{widen} (Zagoruyko & Komodakis 2016; TRADES / RobustBench layout)",
    )


default_cfgs = {"wrn_34_10": _wrn_cfg(34, 10), "wrn_28_10": _wrn_cfg(28, 10)}


class WideBasicBlock(nn.Module):
    """BN-ReLU-conv twice; when the width changes, the 1x1 shortcut reads the pre-activated input."""

    def __init__(self, in_planes: int, planes: int, stride: int, drop_rate: float) -> None:
        super().__init__()
        self.drop_rate = drop_rate
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.convShortcut: nn.Conv2d | None = None  # RobustBench's parameter name
        if in_planes != planes:
            self.convShortcut = nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """Pre-activation residual block with optional dropout between the convs."""
        act = self.relu1(self.bn1(x))
        shortcut = x if self.convShortcut is None else self.convShortcut(act)
        out = self.relu2(self.bn2(self.conv1(act)))
        out = F.dropout(out, p=self.drop_rate, training=self.training)
        return self.conv2(out) + shortcut


class NetworkBlock(nn.Module):
    """One stage, held as `.layer` to keep RobustBench's parameter names."""

    def __init__(self, in_planes: int, planes: int, blocks: int, stride: int, drop_rate: float) -> None:
        super().__init__()

        def block(in_planes: int, planes: int, stride: int) -> WideBasicBlock:
            return WideBasicBlock(in_planes, planes, stride, drop_rate)

        self.layer = make_stage(block, in_planes, planes, blocks, stride)

    def forward(self, x: Tensor) -> Tensor:
        """Run the stage."""
        return self.layer(x)


class WideResNet(ZooClassifier):
    """Three stages of (depth-4)/6 wide blocks (16k-32k-64k channels) on a 16-channel 3x3 stem."""

    def __init__(
        self,
        depth: int = 34,
        widen: int = 10,
        num_classes: int = 10,
        in_chans: int = 3,
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        if depth < 10 or (depth - 4) % 6:
            raise UserInputError(
                f"WideResNet depth must be 6n+4 with n >= 1 (10, 16, 28, 34, ...), got {depth}"
            )
        blocks, widths = (depth - 4) // 6, (16 * widen, 32 * widen, 64 * widen)
        self.num_classes, self.num_features = num_classes, widths[2]
        self.conv1 = nn.Conv2d(in_chans, 16, 3, stride=1, padding=1, bias=False)
        self.block1 = NetworkBlock(16, widths[0], blocks, 1, drop_rate)
        self.block2 = NetworkBlock(widths[0], widths[1], blocks, 2, drop_rate)
        self.block3 = NetworkBlock(widths[1], widths[2], blocks, 2, drop_rate)
        self.bn1 = nn.BatchNorm2d(widths[2])
        self.relu = nn.ReLU(inplace=True)
        self.fc = nn.Linear(widths[2], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        """The 64k-channel map after the final BN-ReLU."""
        x = self.block3(self.block2(self.block1(self.conv1(x))))
        return self.relu(self.bn1(x))


def wide_resnet(depth: int, widen: int, pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """WRN-depth-widen for 32x32 inputs, e.g. `wide_resnet(16, 1)` for a tiny one in tests."""
    name = f"wrn_{depth}_{widen}"
    cfg = default_cfgs.get(name) or _wrn_cfg(depth, widen)
    return build_zoo_model(WideResNet, name, cfg, pretrained, kwargs, depth=depth, widen=widen)


@register_model
def wrn_34_10(pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """WideResNet-34-10 (~46.2M parameters), the usual robust CIFAR teacher."""
    return wide_resnet(34, 10, pretrained, **kwargs)


@register_model
def wrn_28_10(pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """WideResNet-28-10 (~36.5M parameters)."""
    return wide_resnet(28, 10, pretrained, **kwargs)
