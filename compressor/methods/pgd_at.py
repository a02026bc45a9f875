"""PGD adversarial training (Madry et al., ICLR 2018, arXiv 1706.06083): CE on PGD examples.

The attack maximises the student's per-sample cross-entropy with the recipe's training attack.
Deviation from the reference code: the student is in eval mode during the attack (the TensorFlow
reference builds its graph in training mode), so the attack iterates do not move BatchNorm statistics;
this is the convention of the distillation baselines (RSLAD, CIARD) the project compares against.
"""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor

from compressor.config.methods import Params
from compressor.methods.base import Method, StepOutput, register_method
from compressor.methods.common import ce_objective, run_attack
from compressor.methods.registry import register_params


@register_params(single_model=True, default_for="robust")
class PGDATParams(Params):
    """Madry et al. 2018: cross-entropy on PGD examples."""

    name: Literal["pgd_at"]


@register_method
class PGDAT(Method):
    """CE(S(x'), y) with x' = PGD on CE(S(.), y)."""

    name = "pgd_at"

    def adversarial(self, x: Tensor, y: Tensor) -> Tensor | None:
        """PGD on the student's cross-entropy."""
        return run_attack(self.ctx, ce_objective(self.student, y), x)

    def loss(self, x: Tensor, y: Tensor, x_adv: Tensor | None) -> StepOutput:
        """Cross-entropy on the adversarial batch."""
        assert x_adv is not None
        ce = F.cross_entropy(self.student(x_adv).float(), y)
        return StepOutput(ce, {"ce_adv": ce.detach()})
