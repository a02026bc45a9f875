"""The classifier interface every zoo model shares (timm's names: features, head, classifier)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn


class ZooClassifier(nn.Module):
    """A conv trunk (`forward_features`) then global average pooling and one linear layer."""

    num_classes: int
    num_features: int
    pretrained_cfg: dict[str, Any]  # timm's name for the input size / normalisation the model expects
    default_cfg: dict[str, Any]  # timm's older name for the same
    classifier_name = "fc"  # the attribute (and state-dict key) holding the final nn.Linear

    def forward_features(self, x: Tensor) -> Tensor:
        """The last feature map, before pooling."""
        raise NotImplementedError

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Pool the feature map and classify it (or return the pooled features)."""
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return x if pre_logits else self.get_classifier()(x)

    def forward(self, x: Tensor) -> Tensor:
        """Logits for a batch of (normalised) images."""
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        """The final linear layer."""
        return getattr(self, self.classifier_name)


def make_stage(
    block: Callable[[int, int, int], nn.Module], in_planes: int, planes: int, blocks: int, stride: int
) -> nn.Sequential:
    """`blocks` residual blocks; the first changes width and stride, the others keep them."""
    return nn.Sequential(
        block(in_planes, planes, stride), *(block(planes, planes, 1) for _ in range(blocks - 1))
    )
