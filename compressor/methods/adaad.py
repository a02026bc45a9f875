"""AdaAD: Adaptive Adversarial Distillation (Huang et al., CVPR 2023, arXiv 2209.15433).

The teacher is queried at the same point as the student: the attack maximises the per-sample
KL(T(x') || S(x')) summed over classes, with the gradient flowing through both models (student and
teacher in eval mode; their start is x + 0.001 N(0,1): `attack.init: normal`). Loss:
a KL(T(x') || S(x')) + (1 - a) KL(T(x) || S(x)), each averaged over batch x classes (their
`nn.KLDivLoss()` default), a = `adv_weight` (their AdaAD_alpha, 1 by default). The clean term and its
forwards are skipped when a = 1.
"""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from compressor.config.methods import Params
from compressor.config.numbers import Number
from compressor.methods.base import Method, StepOutput, register_method
from compressor.methods.common import kl_elementwise, kl_mean_bc, probs, run_attack, teacher_logits
from compressor.methods.registry import register_params


@register_params(teacher_roles=("robust",))
class AdaADParams(Params):
    """Huang et al. 2023: the attack and the loss query the teacher at the same point x'."""

    name: Literal["adaad"]
    adv_weight: Number = Field(1.0, ge=0, le=1)


@register_method
class AdaAD(Method):
    """Distil the robust teacher's prediction at the student's own adversarial point."""

    name = "adaad"

    def adversarial(self, x: Tensor, y: Tensor) -> Tensor | None:
        """PGD on KL(T(x') || S(x')), differentiating through the (frozen) teacher too."""
        teacher = self.teachers["robust"]

        def objective(x_adv: Tensor) -> Tensor:
            log_p = F.log_softmax(self.student(x_adv).float(), dim=1)
            return kl_elementwise(log_p, probs(teacher(x_adv))).sum(dim=1)

        return run_attack(self.ctx, objective, x)

    def loss(self, x: Tensor, y: Tensor, x_adv: Tensor | None) -> StepOutput:
        """a KL(T(x') || S(x')) + (1 - a) KL(T(x) || S(x))."""
        assert x_adv is not None
        a = float(self.params.adv_weight)
        t_logits = teacher_logits(self.teachers["robust"], x_adv, *((x,) if a < 1 else ()))
        kl_adv = kl_mean_bc(self.student(x_adv), probs(t_logits[0]))
        total = a * kl_adv
        logs: dict[str, Tensor | float] = {"kl_adv": kl_adv.detach()}
        if a < 1:
            kl_nat = kl_mean_bc(self.student(x), probs(t_logits[1]))
            total, logs["kl_nat"] = total + (1 - a) * kl_nat, kl_nat.detach()
        return StepOutput(total, logs)
