"""PGD evaluation attack (Madry et al. 2018) with a uniform random start, and CW-inf (its margin-loss form).

Step size is a fraction of eps (``alpha = rel_step * eps``) so one setting means the same thing at every
radius: ``rel_step = 1/4`` is the "2/255 at 8/255" convention and ``rel_step = 0.003 / (8/255)`` the
"0.003 at 8/255" one. Unlike a training attack, each point stops at the first iterate that fools the
model (the adversarial example it reports); this is never weaker than keeping only the last iterate.
Restarts run only on the points still robust.
"""

from __future__ import annotations

from torch import Tensor

from compressor.attacks.ascent import ascend, random_start
from compressor.attacks.base import (
    AttackResult,
    Model,
    Norm,
    check_inputs,
    logits_of,
    make_generator,
    predict,
)
from compressor.attacks.losses import LOSSES, misclassified


def pgd_attack(
    model: Model,
    x: Tensor,
    y: Tensor,
    *,
    eps: float,
    norm: Norm = "linf",
    steps: int = 20,
    rel_step: float = 0.25,
    restarts: int = 1,
    loss: str = "ce",
    seed: int = 0,
) -> AttackResult:
    """``restarts`` x ``steps`` of PGD on ``loss`` ("ce", or "margin" for CW-inf) with step rel_step * eps."""
    check_inputs(x, y, eps, norm)
    loss_fn = LOSSES[loss]
    generator = make_generator(x.device, seed)
    x = x.detach()
    x_adv = x.clone()
    robust = predict(model, x) == y
    for _ in range(restarts):
        active = robust.nonzero().squeeze(1)
        if active.numel() == 0:
            break
        xa, ya = x[active], y[active]

        def objective(x_cur: Tensor, index: Tensor, ya: Tensor = ya) -> tuple[Tensor, Tensor]:
            logits = logits_of(model, x_cur)
            return loss_fn(logits, ya[index], ya[index]), misclassified(logits.detach(), ya[index])

        start = random_start(xa, eps, norm, "uniform", generator=generator)
        out, fooled = ascend(objective, xa, start, eps=eps, alpha=rel_step * eps, steps=steps, norm=norm)
        rest = ~fooled
        if bool(rest.any()):
            fooled[rest] = predict(model, out[rest]) != ya[rest]
        x_adv[active] = out
        robust[active[fooled]] = False
    return AttackResult(x_adv, robust)


def cw_attack(
    model: Model,
    x: Tensor,
    y: Tensor,
    *,
    eps: float,
    norm: Norm = "linf",
    steps: int = 20,
    rel_step: float = 0.25,
    restarts: int = 1,
    seed: int = 0,
) -> AttackResult:
    """CW-inf: PGD on the Carlini-Wagner margin max_{j!=y} z_j - z_y instead of cross-entropy."""
    return pgd_attack(
        model,
        x,
        y,
        eps=eps,
        norm=norm,
        steps=steps,
        rel_step=rel_step,
        restarts=restarts,
        loss="margin",
        seed=seed,
    )
