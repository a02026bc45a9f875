"""Knowledge distillation (Hinton et al., 2015, arXiv 1503.02531) on clean images, from one teacher.

Loss: (1 - alpha) CE(S(x), y) + alpha tau^2 KL(T(x)/tau || S(x)/tau), the KL batchmean (summed over
classes, averaged over the batch), the convention of the common PyTorch implementations. The teacher
is the recipe's `teacher` role (clean by default).
"""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from compressor.config.methods import Params
from compressor.config.numbers import Number
from compressor.methods.base import Method, StepOutput, register_method
from compressor.methods.common import kl_batchmean, probs, teacher_logits
from compressor.methods.registry import register_params


@register_params(robust_validation=False)
class KDParams(Params):
    """Hinton et al. 2015: (1-alpha) CE + alpha tau^2 KL on clean images, from one teacher."""

    name: Literal["kd"]
    tau: Number = Field(4.0, gt=0)
    alpha: Number = Field(0.9, ge=0, le=1)
    teacher: Literal["robust", "clean"] = "clean"

    def needed_teachers(self) -> tuple[str, ...]:
        """KD distils from the one teacher its `teacher` parameter names."""
        return (self.teacher,)


@register_method
class KD(Method):
    """Hinton distillation with temperature tau and mixing weight alpha."""

    name = "kd"

    def adversarial(self, x: Tensor, y: Tensor) -> Tensor | None:
        """No attack: KD trains on clean images."""
        return None

    def loss(self, x: Tensor, y: Tensor, x_adv: Tensor | None) -> StepOutput:
        """(1 - alpha) CE + alpha tau^2 KL at temperature tau."""
        tau, alpha = float(self.params.tau), float(self.params.alpha)
        (t_logits,) = teacher_logits(self.teachers[self.params.teacher], x)
        s_logits = self.student(x).float()
        ce = F.cross_entropy(s_logits, y)
        kl = kl_batchmean(s_logits, probs(t_logits, tau), tau)
        total = (1 - alpha) * ce + alpha * tau**2 * kl
        return StepOutput(total, {"ce": ce.detach(), "kl": kl.detach()})
