"""Every model takes [0,1] pixels: normalisation lives inside, as buffers, all the way into ONNX."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class Normalized(nn.Module):
    """Wrap a network that expects normalised input so that it takes [0,1] pixels instead.

    With ``grey_input`` a network that takes RGB (pretrained on colour) takes one grey channel: the grey is
    repeated into R, G and B inside the model, so the exported file takes what a grey camera gives.
    """

    mean: Tensor
    std: Tensor

    def __init__(
        self, net: nn.Module, mean: Sequence[float], std: Sequence[float], *, grey_input: bool = False
    ) -> None:
        super().__init__()
        if len(mean) != len(std):
            raise ValueError(f"mean has {len(mean)} channels but std has {len(std)}")
        self.net = net
        self.grey_input = grey_input
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        if self.grey_input:
            x = x.expand(-1, self.mean.shape[1], -1, -1)
        return self.net((x - self.mean.to(x.dtype)) / self.std.to(x.dtype))


def unwrap(model: nn.Module) -> nn.Module:
    """The module under DDP / torch.compile wrappers (what to save and export)."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if inner is None:
            return model
        model = inner
