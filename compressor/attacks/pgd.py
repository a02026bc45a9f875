"""PGD evaluation attack (Madry et al. 2018) with a uniform random start, and CW-inf (its margin-loss form).

Step size is a fraction of eps (``alpha = rel_step * eps``) so one setting means the same thing at every
radius: ``rel_step = 1/4`` is the "2/255 at 8/255" convention and ``rel_step = 0.003 / (8/255)`` the
"0.003 at 8/255" one (the name grammar ``pgd<N>-<step>`` gives the absolute step at 8/255, scaled with
eps: ``pgd20-0.003`` = 20 steps of 0.003 at 8/255, 0.0015 at 4/255; ``pgd<N>`` and ``cw<N>`` step eps/4).
Unlike a training attack, each point stops at the first iterate that fools the
model (the adversarial example it reports); this is never weaker than keeping only the last iterate.
Restarts run only on the points still robust.
"""

from __future__ import annotations

import re

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
from compressor.attacks.registry import AttackSpec, register_attack, register_attack_family

REFERENCE_EPS = 8 / 255  # the radius at which a name's absolute step (pgd20-0.003) is given


@register_attack(
    "pgd100",
    description="PGD, 100 steps of 0.25 x eps, random start",
    params={"steps": 100, "rel_step": 0.25},
)
@register_attack(
    "pgd20-0.003",
    description=f"PGD, 20 steps of {0.003 / REFERENCE_EPS:.4g} x eps, random start",
    params={"steps": 20, "rel_step": 0.003 / REFERENCE_EPS},
)
@register_attack(
    "pgd20", description="PGD, 20 steps of 0.25 x eps, random start", params={"steps": 20, "rel_step": 0.25}
)
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


@register_attack(
    "cw20", description="PGD on the CW margin, 20 steps of eps/4", params={"steps": 20, "rel_step": 0.25}
)
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


def _pgd_family(match: re.Match[str], name: str) -> AttackSpec | None:
    steps, step = int(match.group(1)), match.group(2)
    rel = float(step) / REFERENCE_EPS if step else 0.25
    if steps <= 0 or rel <= 0:
        return None
    description = f"PGD, {steps} steps of {rel:.4g} x eps, random start"
    return AttackSpec(name, pgd_attack, "white-box", description, {"steps": steps, "rel_step": rel})


def _cw_family(match: re.Match[str], name: str) -> AttackSpec | None:
    steps = int(match.group(1))
    description = f"PGD on the CW margin, {steps} steps of eps/4"
    return (
        AttackSpec(name, cw_attack, "white-box", description, {"steps": steps, "rel_step": 0.25})
        if steps > 0
        else None
    )


register_attack_family("pgd<N>, pgd<N>-<step>", r"^pgd(\d+)(?:-(\d*\.?\d+))?$", _pgd_family)
register_attack_family("cw<N>", r"^cw(\d+)$", _cw_family)
