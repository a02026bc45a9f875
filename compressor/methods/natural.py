"""Natural training: cross-entropy on clean images (clean teachers and references)."""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor

from compressor.config.methods import Params
from compressor.methods.base import Method, StepOutput, register_method
from compressor.methods.registry import register_params


@register_params(single_model=True, robust_validation=False, default_for="clean")
class NaturalParams(Params):
    """Cross-entropy on clean images (clean teachers, references)."""

    name: Literal["natural"]


@register_method
class Natural(Method):
    """CE(S(x), y); no adversarial examples."""

    name = "natural"

    def adversarial(self, x: Tensor, y: Tensor) -> Tensor | None:
        """No attack: natural training sees clean images only."""
        return None

    def loss(self, x: Tensor, y: Tensor, x_adv: Tensor | None) -> StepOutput:
        """Cross-entropy on the clean batch."""
        ce = F.cross_entropy(self.student(x).float(), y)
        return StepOutput(ce, {"ce": ce.detach()})
