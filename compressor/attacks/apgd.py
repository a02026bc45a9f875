"""APGD-CE and APGD-T (Croce & Hein 2020, arXiv 2003.01690), L-inf and L2.

The algorithm and defaults follow the reference code (fra31/auto-attack): 100 iterations, step 2*eps,
momentum 0.75, checkpoints after 22% of the iterations whose spacing shrinks by 3% down to 6%; at a
checkpoint the step halves (and the iterate returns to the best point) where at most rho = 0.75 of the
steps since the last checkpoint raised the loss, or where the step was not halved last time and the best
loss has not improved since. APGD-T runs the targeted DLR loss against the 9 classes ranked highest after
the true one, each only on the points still robust.

Deviations, none of which can make the attack weaker:
- early drop-out: a point leaves the batch at the first iterate that fools the model; every point's
  trajectory is independent of the others', so the surviving points run exactly as before;
- the first checkpoint counts an increase against the starting point's loss, as the paper's formula
  says (the reference compares with a zero-filled buffer);
- APGD-CE's robust points return their highest-loss iterate instead of the clean image;
- APGD-T runs several targets per batch (:mod:`compressor.attacks.targets`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from compressor.attacks.ascent import ascent_direction, project
from compressor.attacks.base import (
    AttackResult,
    Loss,
    Model,
    Norm,
    check_inputs,
    logits_of,
    loss_and_grad,
    lp_norm,
    make_generator,
    predict,
)
from compressor.attacks.losses import LOSSES, dlr_targeted
from compressor.attacks.registry import register_attack
from compressor.attacks.targets import attack_targets, runner_up_classes
from compressor.errors import UserInputError

State = dict[str, Tensor]


def _drop_fooled(s: State, logits: Tensor, out: Tensor, fooled: Tensor) -> State | None:
    """Record the rows the current iterate fools; drop them and their group; None if none is left."""
    bad = logits.argmax(1) != s["y"]
    if not bool(bad.any()):
        return s
    out[s["index"][bad]] = s["x_adv"][bad]
    fooled[s["index"][bad]] = True
    keep = ~torch.isin(s["group"], s["group"][bad])
    return {k: v[keep] for k, v in s.items()} if bool(keep.any()) else None


def _project(t: Tensor, s: State, eps: float, norm: Norm) -> Tensor:
    if norm == "linf":
        return torch.clamp(t, s["lo"], s["hi"])
    return project(t, s["x"], eps, norm)


def _start(
    model: Model,
    x: Tensor,
    y: Tensor,
    y_target: Tensor,
    loss: Loss,
    *,
    eps: float,
    norm: Norm,
    generator: torch.Generator,
    group: Tensor | None,
) -> tuple[Tensor, State]:
    """The logits at a random point on the ball's surface and the run's state there (step 2 eps)."""
    view = (-1,) + (1,) * (x.dim() - 1)
    if norm == "linf":
        t = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype).mul_(2).sub_(1)
    else:
        t = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    x_adv = (x + eps * t / (lp_norm(t, norm) + 1e-12)).clamp(0.0, 1.0)
    logits, value, grad = loss_and_grad(model, x_adv, loss, y, y_target)
    state: State = {
        "index": torch.arange(x.shape[0], device=x.device),
        "group": torch.arange(x.shape[0], device=x.device) if group is None else group,
        "x": x,
        "y": y,
        "yt": y_target,
        "x_adv": x_adv,
        "x_old": x_adv,
        "grad": grad,
        "x_best": x_adv,
        "grad_best": grad,
        "loss_best": value,
        "loss_prev": value,
        "loss_best_last": value,
        "reduced_last": torch.ones_like(y, dtype=torch.bool),
        "increases": torch.zeros_like(value),
        "step": torch.full((x.shape[0],) + view[1:], 2.0 * eps, device=x.device, dtype=x.dtype),
    }
    if norm == "linf":
        state["lo"], state["hi"] = (x - eps).clamp(min=0.0), (x + eps).clamp(max=1.0)
    return logits, state


def _keep_best(s: State, value: Tensor) -> None:
    """Count loss increases and keep each row's best point, gradient and loss so far."""
    view = (-1,) + (1,) * (s["x"].dim() - 1)
    s["increases"] = s["increases"] + (value > s["loss_prev"]).to(value.dtype)
    s["loss_prev"] = value
    better = value > s["loss_best"]
    s["x_best"] = torch.where(better.view(view), s["x_adv"], s["x_best"])
    s["grad_best"] = torch.where(better.view(view), s["grad"], s["grad_best"])
    s["loss_best"] = torch.where(better, value, s["loss_best"])


def _halve_stalled_steps(s: State, k: int, rho: float) -> None:
    """At a checkpoint: rows whose loss rose too rarely (or stalled) halve their step and restart at best."""
    view = (-1,) + (1,) * (s["x"].dim() - 1)
    reduce = (s["increases"] <= k * rho) | (~s["reduced_last"] & (s["loss_best_last"] >= s["loss_best"]))
    s["reduced_last"], s["loss_best_last"] = reduce, s["loss_best"]
    r = reduce.view(view)
    s["step"] = torch.where(r, s["step"] / 2.0, s["step"])
    s["x_adv"] = torch.where(r, s["x_best"], s["x_adv"])
    s["grad"] = torch.where(r, s["grad_best"], s["grad"])
    s["increases"] = torch.zeros_like(s["loss_best"])


def apgd_run(
    model: Model,
    x: Tensor,
    y: Tensor,
    y_target: Tensor,
    loss: Loss,
    *,
    eps: float,
    norm: Norm,
    n_iter: int,
    rho: float,
    generator: torch.Generator,
    group: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """One APGD run per row from a random point on the ball's surface; returns ``(x_adv, fooled)``.

    Rows with the same ``group`` value (default: each row its own) leave together once one is fooled.
    """
    n_iter_2, n_iter_min, size_decr = (
        max(int(0.22 * n_iter), 1),
        max(int(0.06 * n_iter), 1),
        max(int(0.03 * n_iter), 1),
    )
    out, fooled = x.clone(), torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    logits, state = _start(model, x, y, y_target, loss, eps=eps, norm=norm, generator=generator, group=group)
    s = _drop_fooled(state, logits, out, fooled)
    k, counter = n_iter_2, 0
    for i in range(n_iter):
        if s is None:
            break
        a = 0.75 if i > 0 else 1.0
        with torch.no_grad():
            cur = s["x_adv"]
            z = _project(cur + s["step"] * ascent_direction(s["grad"], norm), s, eps, norm)
            nxt = _project(cur + a * (z - cur) + (1 - a) * (cur - s["x_old"]), s, eps, norm)
        logits, value, grad = loss_and_grad(model, nxt, loss, s["y"], s["yt"])
        s.update(x_old=cur, x_adv=nxt, grad=grad, loss_cur=value)
        s = _drop_fooled(s, logits, out, fooled)
        if s is None:
            break
        _keep_best(s, s.pop("loss_cur"))
        counter += 1
        if counter == k:
            _halve_stalled_steps(s, k, rho)
            k, counter = max(k - size_decr, n_iter_min), 0
    if s is not None:
        out[s["index"]] = s["x_best"]
    return out, fooled


REFERENCE = {"n_iter": 100, "n_restarts": 1}  # AutoAttack's standard settings


@register_attack(
    "apgd-dlr",
    description="APGD on the DLR loss, 100 iterations",
    params={"loss": "dlr", **REFERENCE},
    min_classes=3,
)
@register_attack(
    "apgd-ce", description="APGD on cross-entropy, 100 iterations", params={"loss": "ce", **REFERENCE}
)
def apgd(
    model: Model,
    x: Tensor,
    y: Tensor,
    *,
    eps: float,
    norm: Norm = "linf",
    loss: str = "ce",
    n_iter: int = 100,
    n_restarts: int = 1,
    rho: float = 0.75,
    seed: int = 0,
) -> AttackResult:
    """Untargeted APGD on ``loss`` ("ce" for APGD-CE, "dlr"); restarts only on the points still robust."""
    check_inputs(x, y, eps, norm)
    generator = make_generator(x.device, seed)
    x = x.detach()
    x_adv, robust = x.clone(), predict(model, x) == y
    for _ in range(n_restarts):
        active = robust.nonzero().squeeze(1)
        if active.numel() == 0:
            break
        out, fooled = apgd_run(
            model,
            x[active],
            y[active],
            y[active],
            LOSSES[loss],
            eps=eps,
            norm=norm,
            n_iter=n_iter,
            rho=rho,
            generator=generator,
        )
        x_adv[active] = out
        robust[active[fooled]] = False
    return AttackResult(x_adv, robust)


@register_attack(
    "apgd-t",
    description="APGD on targeted DLR, 9 targets x 100 iterations",
    params={**REFERENCE, "n_target_classes": 9},
    row_budget=True,
    min_classes=4,
)
def apgd_targeted(
    model: Model,
    x: Tensor,
    y: Tensor,
    *,
    eps: float,
    norm: Norm = "linf",
    n_iter: int = 100,
    n_restarts: int = 1,
    n_target_classes: int = 9,
    rho: float = 0.75,
    seed: int = 0,
    max_rows: int | None = None,
) -> AttackResult:
    """APGD-T: targeted DLR against the runner-up classes, up to ``max_rows`` (point, target) rows at once."""
    check_inputs(x, y, eps, norm)
    generator = make_generator(x.device, seed)
    x = x.detach()
    with torch.no_grad():
        logits = logits_of(model, x)
    if logits.shape[1] < 4:
        raise UserInputError(
            f"APGD-T (and so AutoAttack) needs at least 4 classes, the model has {logits.shape[1]}: "
            "evaluate with pgd/apgd-ce/fab-t/square instead"
        )
    x_adv, robust = x.clone(), logits.argmax(1) == y

    def run(xr: Tensor, yr: Tensor, tr: Tensor, group: Tensor, _restart: int) -> tuple[Tensor, Tensor]:
        return apgd_run(
            model,
            xr,
            yr,
            tr,
            dlr_targeted,
            eps=eps,
            norm=norm,
            n_iter=n_iter,
            rho=rho,
            generator=generator,
            group=group,
        )

    targets = runner_up_classes(logits, n_target_classes)
    attack_targets(run, x, y, targets, robust, x_adv, n_restarts=n_restarts, max_rows=max_rows)
    return AttackResult(x_adv, robust)
