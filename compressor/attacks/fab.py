"""FAB-T, the targeted Fast Adaptive Boundary attack (Croce & Hein 2020, arXiv 1907.02044), L-inf and L2.

Defaults of AutoAttack's FAB-T: 100 iterations, alpha_max 0.1, eta 1.05, beta 0.9, one restart per
target, the 9 classes ranked highest after the true one. Each iteration linearises z_t - z_y at the
iterate, projects both the iterate and the clean point onto that hyperplane (inside the box), and moves
to a convex combination of the two (biased towards the clean point); after a success it steps back
towards the clean point by beta. A point counts as fooled when an adversarial point within eps is found.

Speed, without changing any outcome: gradients are taken w.r.t. the input only (the reference's
``backward()`` also computes every weight gradient), the projection is solved for all rows at once
(:mod:`compressor.attacks.fab_projection`), and a point leaves the batch once it has an adversarial point
within eps (FAB would only shrink that perturbation further); several targets run per batch
(:mod:`compressor.attacks.targets`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from compressor.attacks.base import (
    AttackResult,
    Model,
    Norm,
    check_inputs,
    logits_of,
    loss_and_grad,
    lp_norm,
    make_generator,
)
from compressor.attacks.fab_projection import project_onto_hyperplane_box
from compressor.attacks.registry import register_attack
from compressor.attacks.targets import attack_targets, runner_up_classes


def _target_gap(logits: Tensor, y: Tensor, y_target: Tensor) -> Tensor:
    return (logits.gather(1, y_target[:, None]) - logits.gather(1, y[:, None])).squeeze(1)


def _linearize(model: Model, x: Tensor, y: Tensor, yt: Tensor) -> tuple[Tensor, Tensor]:
    """The gap z_t - z_y at ``x`` and its input gradient."""
    _, gap, grad = loss_and_grad(model, x, _target_gap, y, yt)
    return gap, grad


def fab_run(
    model: Model,
    x: Tensor,
    y: Tensor,
    y_target: Tensor,
    x_start: Tensor,
    *,
    eps: float,
    norm: Norm,
    n_iter: int,
    alpha_max: float,
    eta: float,
    beta: float,
    group: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """One FAB-T run per row towards ``y_target`` from ``x_start``; returns ``(x_adv, fooled)``.

    Rows with the same ``group`` value (default: each row its own) leave together once one succeeds.
    """
    out, fooled = x.clone(), torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    view = (-1,) + (1,) * (x.dim() - 1)
    s = {
        "index": torch.arange(x.shape[0], device=x.device),
        "group": torch.arange(x.shape[0], device=x.device) if group is None else group,
        "x": x,
        "y": y,
        "yt": y_target,
        "x1": x_start,
        "best": x.clone(),
        "res": torch.full((x.shape[0],), float("inf"), device=x.device),
    }
    for _ in range(n_iter):
        n, x0, x1 = s["x"].shape[0], s["x"], s["x1"]
        gap, grad = _linearize(model, x1, s["y"], s["yt"])
        with torch.no_grad():
            w = grad.flatten(1)
            b = (w * x1.flatten(1)).sum(1) - gap
            d = project_onto_hyperplane_box(
                torch.cat((x1.flatten(1), x0.flatten(1))), torch.cat((w, w)), torch.cat((b, b)), norm
            ).view(2 * n, *x0.shape[1:])
            d1, d2 = d[:n], d[n:]
            a1, a2 = lp_norm(d1, norm).clamp_min(1e-8), lp_norm(d2, norm).clamp_min(1e-8)
            mix = (a1 / (a1 + a2)).clamp(0.0, alpha_max)
            x1 = ((x1 + eta * d1) * (1 - mix) + (x0 + eta * d2) * mix).clamp(0.0, 1.0)
            is_adv = logits_of(model, x1).argmax(1) != s["y"]
            dist = lp_norm(x1 - x0, norm).flatten()
            better = is_adv & (dist < s["res"])
            s["res"] = torch.where(better, dist, s["res"])
            s["best"] = torch.where(better.view(view), x1, s["best"])
            s["x1"] = torch.where(is_adv.view(view), x0 + (x1 - x0) * beta, x1)
        success = s["res"] <= eps
        if bool(success.any()):
            out[s["index"][success]] = s["best"][success]
            fooled[s["index"][success]] = True
            keep = ~torch.isin(s["group"], s["group"][success])
            if not bool(keep.any()):
                break
            s = {k: v[keep] for k, v in s.items()}
    return out, fooled


@register_attack(
    "fab-t",
    description="targeted FAB, 9 targets x 100 iterations",
    params={"n_iter": 100, "n_restarts": 1, "n_target_classes": 9},
    row_budget=True,
)
def fab_targeted(
    model: Model,
    x: Tensor,
    y: Tensor,
    *,
    eps: float,
    norm: Norm = "linf",
    n_iter: int = 100,
    n_restarts: int = 1,
    n_target_classes: int = 9,
    alpha_max: float = 0.1,
    eta: float = 1.05,
    beta: float = 0.9,
    seed: int = 0,
    max_rows: int | None = None,
) -> AttackResult:
    """FAB-T against the runner-up classes, up to ``max_rows`` (point, target) rows at once.

    The first run per target starts at the clean point, restarts at a random point at eps/2.
    """
    check_inputs(x, y, eps, norm)
    generator = make_generator(x.device, seed)
    x = x.detach()
    with torch.no_grad():
        logits = logits_of(model, x)
    x_adv, robust = x.clone(), logits.argmax(1) == y

    def run(xr: Tensor, yr: Tensor, tr: Tensor, group: Tensor, restart: int) -> tuple[Tensor, Tensor]:
        start = xr
        if restart > 0:
            if norm == "linf":
                t = torch.rand(xr.shape, generator=generator, device=x.device).mul_(2).sub_(1)
            else:
                t = torch.randn(xr.shape, generator=generator, device=x.device)
            start = (xr + 0.5 * eps * t / lp_norm(t, norm).clamp_min(1e-12)).clamp(0.0, 1.0)
        return fab_run(
            model,
            xr,
            yr,
            tr,
            start,
            eps=eps,
            norm=norm,
            n_iter=n_iter,
            alpha_max=alpha_max,
            eta=eta,
            beta=beta,
            group=group,
        )

    targets = runner_up_classes(logits, n_target_classes)
    attack_targets(run, x, y, targets, robust, x_adv, n_restarts=n_restarts, max_rows=max_rows)
    return AttackResult(x_adv, robust)
