"""FGSM (Goodfellow et al. 2015): one full-size signed-gradient step from the clean point."""

from __future__ import annotations

import torch
from torch import Tensor

from compressor.attacks.ascent import ascent_direction, project
from compressor.attacks.base import AttackResult, Model, Norm, check_inputs, loss_and_grad, predict
from compressor.attacks.losses import cross_entropy
from compressor.attacks.registry import register_attack


@register_attack("fgsm", description="FGSM, one step of eps")
def fgsm(
    model: Model, x: Tensor, y: Tensor, *, eps: float, norm: Norm = "linf", seed: int = 0
) -> AttackResult:
    """x + eps * sign(grad CE) (L2: along the normalised gradient), clipped to the box; ``seed`` is unused."""
    check_inputs(x, y, eps, norm)
    x = x.detach()
    logits, _, grad = loss_and_grad(model, x, cross_entropy, y, y)
    correct = logits.argmax(1) == y
    with torch.no_grad():
        x_adv = project(x + eps * ascent_direction(grad, norm), x, eps, norm)
        x_adv = torch.where(correct.view(-1, *[1] * (x.dim() - 1)), x_adv, x)
    return AttackResult(x_adv, correct & (predict(model, x_adv) == y))
