"""TRADES (Zhang et al., ICML 2019, arXiv 1901.08573): CE(S(x), y) + beta * KL(S(x) || S(x')).

Attack: maximise the per-sample KL(softmax S(x) || softmax S(x')) with the student in eval mode, the
clean distribution computed once per batch (as the reference code does; the reference starts at
x + 0.001 N(0,1): set ``attack.init: normal`` to match). Loss: the KL is batchmean (the reference's
``(1/B) * KLDivLoss(sum)``) and gradients flow through both S(x) and S(x'). The two student forwards
stay separate: in train mode, BatchNorm statistics of a concatenated batch would differ.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from compressor.config.methods import Params
from compressor.config.numbers import Number
from compressor.methods.base import Method, StepOutput, register_method
from compressor.methods.common import kl_batchmean, kl_objective, probs, run_attack
from compressor.methods.registry import register_params
from compressor.models.modes import eval_mode


@register_params(single_model=True)
class TRADESParams(Params):
    """Zhang et al. 2019: CE(S(x)) + beta * KL(S(x') || S(x))."""

    name: Literal["trades"]
    beta: Number = Field(6.0, ge=0)


@register_method
class TRADES(Method):
    """Clean CE plus beta times the KL between clean and adversarial predictions."""

    name = "trades"

    def adversarial(self, x: Tensor, y: Tensor) -> Tensor | None:
        """PGD on KL(S(x) || S(x')) around the student's own clean prediction."""
        with torch.no_grad(), eval_mode(self.student), self.ctx.autocast():
            clean_probs = probs(self.student(x))
        return run_attack(self.ctx, kl_objective(self.student, clean_probs), x)

    def loss(self, x: Tensor, y: Tensor, x_adv: Tensor | None) -> StepOutput:
        """CE(S(x), y) + beta * batchmean KL(softmax S(x) || softmax S(x'))."""
        assert x_adv is not None
        logits_nat, logits_adv = self.student(x).float(), self.student(x_adv).float()
        ce = F.cross_entropy(logits_nat, y)
        kl = kl_batchmean(logits_adv, probs(logits_nat))
        total = ce + float(self.params.beta) * kl
        return StepOutput(total, {"ce": ce.detach(), "kl_adv": kl.detach()})
