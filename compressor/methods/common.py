"""Pieces shared by the training methods: KL conventions, teacher forwards, the training attack.

Every softmax / KL is computed in float32 (``.float()`` on the logits first), so bf16 autocast changes
the model outputs but not the arithmetic of the loss.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from compressor.attacks.pgd import maximize
from compressor.methods.base import MethodContext


def kl_elementwise(student_log_probs: Tensor, teacher_probs: Tensor) -> Tensor:
    """``q * (log q - log p)`` element-wise, with 0 where q is 0."""
    return F.kl_div(student_log_probs, teacher_probs, reduction="none")


def kl_mean_bc(student_logits: Tensor, teacher_probs: Tensor, temperature: float = 1.0) -> Tensor:
    """KL(teacher || student) averaged over batch x classes (RSLAD / MTARD / CIARD convention)."""
    log_p = F.log_softmax(student_logits.float() / temperature, dim=1)
    return kl_elementwise(log_p, teacher_probs.float()).mean()


def kl_batchmean(student_logits: Tensor, teacher_probs: Tensor, temperature: float = 1.0) -> Tensor:
    """KL(teacher || student) summed over classes and averaged over the batch."""
    log_p = F.log_softmax(student_logits.float() / temperature, dim=1)
    return kl_elementwise(log_p, teacher_probs.float()).sum(dim=1).mean()


def probs(logits: Tensor, temperature: float | Tensor = 1.0) -> Tensor:
    """Float32 softmax of ``logits / temperature`` over classes."""
    return F.softmax(logits.float() / temperature, dim=1)


def teacher_logits(teacher: nn.Module, *inputs: Tensor) -> tuple[Tensor, ...]:
    """Float32 logits of a frozen eval-mode teacher for each input, from one batched forward.

    Concatenating is exact for an eval-mode model (no batch statistics), and one large forward is
    cheaper than several small ones.
    """
    with torch.no_grad():
        out = teacher(torch.cat(inputs) if len(inputs) > 1 else inputs[0]).float()
    return tuple(out.split([t.shape[0] for t in inputs]))


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[None]:
    """Put ``module`` in eval mode for the block and restore its previous mode after."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


def run_attack(ctx: MethodContext, objective: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """The training attack of ``ctx.attack`` on ``objective``, with the student in eval mode.

    The objective runs under the run's autocast; ``maximize`` takes gradients w.r.t. the input only.
    """
    a = ctx.attack

    def autocast_objective(x_adv: Tensor) -> Tensor:
        with ctx.autocast():
            return objective(x_adv)

    with eval_mode(ctx.student):
        return maximize(
            autocast_objective,
            x,
            eps=float(a.eps),
            alpha=float(a.alpha),
            steps=a.steps,
            norm=a.norm,
            init=a.init,
            init_std=float(a.init_std),
        )


def ce_objective(model: nn.Module, y: Tensor) -> Callable[[Tensor], Tensor]:
    """Per-sample cross-entropy of ``model`` on the labels (the PGD / ARD / CIARD attack)."""
    return lambda x_adv: F.cross_entropy(model(x_adv).float(), y, reduction="none")


def kl_objective(model: nn.Module, target_probs: Tensor) -> Callable[[Tensor], Tensor]:
    """Per-sample KL(target || model(x')) summed over classes (the TRADES / RSLAD attack)."""

    def objective(x_adv: Tensor) -> Tensor:
        log_p = F.log_softmax(model(x_adv).float(), dim=1)
        return kl_elementwise(log_p, target_probs).sum(dim=1)

    return objective
