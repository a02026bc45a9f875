"""RSLAD: Robust Soft Label Adversarial Distillation (Zi et al., ICCV 2021, arXiv 2108.07969).

The robust teacher's prediction on the clean image, T_rob(x), is the soft label everywhere. Attack:
maximise the per-sample KL(T_rob(x) || S(x')) summed over classes, the student in eval mode (their
start is x + 0.001 N(0,1): `attack.init: normal`). Loss: 5/6 KL(T_rob(x) || S(x')) +
1/6 KL(T_rob(x) || S(x)), each averaged over batch x classes (their element-wise `kl_loss`, then mean).
Deviation: the exact KL; the reference adds 1e-5 inside the teacher's log.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from torch import Tensor

from compressor.config.methods import Params
from compressor.config.numbers import Number
from compressor.methods.base import Method, StepOutput, register_method
from compressor.methods.common import kl_mean_bc, kl_objective, probs, run_attack, teacher_logits
from compressor.methods.registry import register_params


@register_params(teacher_roles=("robust",))
class RSLADParams(Params):
    """Zi et al. 2021: robust soft labels T_rob(x) for both the adversarial and the clean term.

    Its KL terms are averaged over batch x classes, as in the authors' code, so their gradient is 1/C of a
    cross-entropy's: under SGD it needs a larger learning rate than PGD-AT (digits, chosen on validation
    from {0.05, 0.1, 0.2, 0.5}: 0.5 against PGD-AT's 0.1; results/digits-methods-sgd.md).
    """

    name: Literal["rslad"]
    adv_weight: Number = Field(5 / 6, ge=0)
    nat_weight: Number = Field(1 / 6, ge=0)


@register_method
class RSLAD(Method):
    """Robust soft labels T_rob(x) for both the adversarial and the clean KL term."""

    name = "rslad"

    def _soft_labels(self, x: Tensor) -> Tensor:
        (t_logits,) = teacher_logits(self.teachers["robust"], x)
        return probs(t_logits)

    def adversarial(self, x: Tensor, y: Tensor) -> Tensor | None:
        """PGD on KL(T_rob(x) || S(x'))."""
        return run_attack(self.ctx, kl_objective(self.student, self._soft_labels(x)), x)

    def loss(self, x: Tensor, y: Tensor, x_adv: Tensor | None) -> StepOutput:
        """adv_weight KL(T_rob(x) || S(x')) + nat_weight KL(T_rob(x) || S(x))."""
        assert x_adv is not None
        soft = self._soft_labels(x)
        kl_adv = kl_mean_bc(self.student(x_adv), soft)
        kl_nat = kl_mean_bc(self.student(x), soft)
        total = float(self.params.adv_weight) * kl_adv + float(self.params.nat_weight) * kl_nat
        return StepOutput(total, {"kl_adv": kl_adv.detach(), "kl_nat": kl_nat.detach()})
