"""Projected gradient ascent on [0,1] images: the engine behind every PGD-style attack.

Training methods (CIARD, TRADES, RSLAD, MMT-ARD...) differ only in the objective they maximise and in how
the iterate starts, so they all call :func:`maximize` with their own objective. Evaluation attacks call
:func:`ascend`, the same loop with early drop-out: a point whose objective reports it done (already
misclassified) is frozen at that iterate and leaves the batch, so later steps cost less.

The loop is written for speed: gradients are taken with respect to the input only
(``torch.autograd.grad``), so no weight gradients are computed or accumulated; the L-inf projection is
one clamp against precomputed bounds; the objective is always reduced in float32 even when the model
runs under autocast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor

from compressor.attacks.base import Norm

Init = Literal["uniform", "normal", "zero"]
Objective = Callable[[Tensor], Tensor]
# objective(x_adv, index) -> (per-sample loss, done mask or None); index: rows of the original batch.
StepObjective = Callable[[Tensor, Tensor], "tuple[Tensor, Tensor | None]"]


def _flat_norm(t: Tensor, p: float) -> Tensor:
    view = [-1] + [1] * (t.dim() - 1)
    return t.flatten(1).norm(p=p, dim=1).clamp_min(1e-12).view(view)


def project(x_adv: Tensor, x: Tensor, eps: float, norm: Norm) -> Tensor:
    """Project ``x_adv`` onto the eps-ball around ``x`` intersected with the [0,1] box."""
    delta = x_adv - x
    delta = delta.clamp(-eps, eps) if norm == "linf" else delta * (eps / _flat_norm(delta, 2)).clamp(max=1.0)
    return (x + delta).clamp(0.0, 1.0)


def random_start(
    x: Tensor,
    eps: float,
    norm: Norm,
    init: Init,
    init_std: float = 0.001,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Starting point of the ascent: uniform in the ball, small Gaussian noise, or the clean point."""
    if init == "zero":
        return x.clone()
    if init == "normal":
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return (x + init_std * noise).clamp(0.0, 1.0)
    if norm == "linf":
        return (x + torch.empty_like(x).uniform_(-eps, eps, generator=generator)).clamp(0.0, 1.0)
    direction = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    radius_shape = (x.shape[0],) + (1,) * (x.dim() - 1)
    radius = eps * torch.rand(radius_shape, generator=generator, device=x.device, dtype=x.dtype)
    return project(x + direction / _flat_norm(direction, 2) * radius, x, eps, norm)


def ascent_direction(grad: Tensor, norm: Norm) -> Tensor:
    """Steepest-ascent direction of unit size for the given norm."""
    if norm == "linf":
        return grad.sign()
    return grad / _flat_norm(grad, 2)


def ascend(
    objective: StepObjective,
    x: Tensor,
    x_start: Tensor,
    *,
    eps: float,
    alpha: float,
    steps: int,
    norm: Norm = "linf",
    momentum: float = 0.0,
) -> tuple[Tensor, Tensor]:
    """Run ``steps`` of projected gradient ascent from ``x_start``; return ``(x_adv, done)``.

    ``objective(x_active, index)`` returns the per-sample loss of the active rows (``index`` says which
    rows of ``x`` they are) and optionally a boolean mask of rows that are done: those rows keep the
    iterate they were evaluated at and are dropped from later steps. The last iterate is not evaluated.
    """
    x = x.detach()
    out = x_start.detach().clone()
    done = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    index = torch.arange(x.shape[0], device=x.device)
    x_act, x_adv = x, out.clone()
    if norm == "linf":
        lo, hi = (x - eps).clamp_(min=0.0), (x + eps).clamp_(max=1.0)
    velocity = torch.zeros_like(x) if momentum > 0 else None
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss, stop = objective(x_adv, index)
        (grad,) = torch.autograd.grad(loss.float().sum(), x_adv)
        x_adv = x_adv.detach()
        if stop is not None and bool(stop.any()):
            out[index[stop]] = x_adv[stop]
            done[index[stop]] = True
            keep = ~stop
            index, x_act, x_adv, grad = index[keep], x_act[keep], x_adv[keep], grad[keep]
            if norm == "linf":
                lo, hi = lo[keep], hi[keep]
            if velocity is not None:
                velocity = velocity[keep]
            if index.numel() == 0:
                return out, done
        if velocity is not None:
            velocity.mul_(momentum).add_(grad / _flat_norm(grad, 1))
            grad = velocity
        with torch.no_grad():
            if norm == "linf":
                x_adv = x_adv.add_(grad.sign(), alpha=alpha).clamp_(lo, hi)
            else:
                x_adv = project(x_adv + alpha * ascent_direction(grad, norm), x_act, eps, norm)
    out[index] = x_adv
    return out, done


def maximize(
    objective: Objective,
    x: Tensor,
    *,
    eps: float,
    alpha: float,
    steps: int,
    norm: Norm = "linf",
    init: Init = "uniform",
    init_std: float = 0.001,
    momentum: float = 0.0,
) -> Tensor:
    """Run ``steps`` of projected gradient ascent of ``objective`` from a start chosen by ``init``.

    ``objective(x_adv)`` returns a scalar or per-sample loss (summed, so per-sample step sizes do not
    depend on the batch size). ``momentum > 0`` accumulates L1-normalised gradients (MI-FGSM), as the
    MMT-ARD attack does. Returns a detached tensor inside the ball and the [0,1] box.
    """
    x = x.detach()
    x_start = random_start(x, eps, norm, init, init_std)
    x_adv, _ = ascend(
        lambda x_adv, _index: (objective(x_adv), None),
        x,
        x_start,
        eps=eps,
        alpha=alpha,
        steps=steps,
        norm=norm,
        momentum=momentum,
    )
    return x_adv
