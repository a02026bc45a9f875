"""AutoAttack, standard version (Croce & Hein 2020): APGD-CE, APGD-T, FAB-T, Square in a cascade.

Each stage runs only on the points every earlier stage left robust, with the reference parameters
(100 iterations, 1 restart, 9 target classes, Square 5000 queries with p_init 0.8), and a point counts
as robust only if it survives all four (worst case per sample). After each stage its adversarial
examples are re-checked with a forward pass, as the reference does. Stages re-batch the surviving
points, and the targeted stages stack targets until a batch is full, so late stages run full batches.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from compressor.attacks import apgd, fab, square  # noqa: F401  (they register the stages read below)
from compressor.attacks.base import AttackResult, Model, Norm, OnBatch, check_inputs, predict
from compressor.attacks.registry import ATTACKS, get_attack, register_attack

AUTOATTACK_STAGES = ("apgd-ce", "apgd-t", "fab-t", "square")


@register_attack(
    "autoattack",
    kind="ensemble",
    description="AutoAttack standard: " + ", ".join(n.upper() for n in AUTOATTACK_STAGES),
    params={"stages": AUTOATTACK_STAGES},
    min_classes=max(ATTACKS[n].min_classes for n in AUTOATTACK_STAGES),
)
def autoattack(
    model: Model,
    x: Tensor,
    y: Tensor,
    *,
    eps: float,
    norm: Norm = "linf",
    seed: int = 0,
    batch_size: int | None = None,
    device: torch.device | str | None = None,
    stages: Sequence[str] = AUTOATTACK_STAGES,
    on_batch: OnBatch | None = None,
) -> AttackResult:
    """AutoAttack standard; ``stages`` of the result holds the robust mask after "clean" and each attack.

    ``on_batch`` hears per stage: the stage's name, its points attacked so far of the points it attacks
    (those every earlier stage left robust) and how many of them it has not fooled."""
    check_inputs(x, y, eps, norm)
    device = torch.device(device) if device is not None else x.device
    size = batch_size or max(x.shape[0], 1)
    x = x.detach()
    x_adv = x.clone()
    if x.shape[0] == 0:
        return AttackResult(x_adv, torch.zeros(0, dtype=torch.bool, device=x.device))
    robust = torch.cat(
        [
            predict(model, xb.to(device)).to(x.device) == yb
            for xb, yb in zip(x.split(size), y.split(size), strict=False)
        ]
    )
    masks = {"clean": robust.clone()}
    for name in stages:  # each stage with its registry parameters (and row budget)
        spec = get_attack(name)
        todo = robust.nonzero().squeeze(1)
        done = survived = 0
        for chunk in todo.split(size):
            xb, yb = x[chunk].to(device), y[chunk].to(device)
            budget = {"max_rows": size} if spec.row_budget else {}
            res = spec.fn(model, xb, yb, eps=eps, norm=norm, seed=seed, **spec.params, **budget)
            fooled = (predict(model, res.x_adv) != yb).to(x.device)
            x_adv[chunk[fooled]] = res.x_adv.to(x.device)[fooled]
            robust[chunk[fooled]] = False
            done, survived = done + len(chunk), survived + int((~fooled).sum())
            if on_batch is not None:
                on_batch(name, done, len(todo), survived)
        masks[name] = robust.clone()
    return AttackResult(x_adv, robust, masks)
