"""Projected gradient ascent on [0,1] images: the engine behind every PGD-style attack.

Training methods (CIARD, TRADES, RSLAD, MMT-ARD...) differ only in the objective they maximise and in how
the iterate starts, so they all call :func:`maximize` with their own objective. The loop is written for
speed: gradients are taken with respect to the input only (``torch.autograd.grad``), so no weight
gradients are computed or accumulated, and the objective is always reduced in float32 even when the
model runs under autocast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor

Norm = Literal["linf", "l2"]
Init = Literal["uniform", "normal", "zero"]
Objective = Callable[[Tensor], Tensor]


def _flat_norm(t: Tensor, p: float) -> Tensor:
    view = [-1] + [1] * (t.dim() - 1)
    return t.flatten(1).norm(p=p, dim=1).clamp_min(1e-12).view(view)


def project(x_adv: Tensor, x: Tensor, eps: float, norm: Norm) -> Tensor:
    """Project ``x_adv`` onto the eps-ball around ``x`` intersected with the [0,1] box."""
    delta = x_adv - x
    if norm == "linf":
        delta = delta.clamp(-eps, eps)
    else:
        delta = delta * (eps / _flat_norm(delta, 2)).clamp(max=1.0)
    return (x + delta).clamp(0.0, 1.0)


def random_start(x: Tensor, eps: float, norm: Norm, init: Init, init_std: float = 0.001) -> Tensor:
    """Starting point of the ascent: uniform in the ball, small Gaussian noise, or the clean point."""
    if init == "zero":
        return x.clone()
    if init == "normal":
        return (x + init_std * torch.randn_like(x)).clamp(0.0, 1.0)
    if norm == "linf":
        return (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0.0, 1.0)
    direction = torch.randn_like(x)
    radius = eps * torch.rand(x.shape[0], *[1] * (x.dim() - 1), device=x.device, dtype=x.dtype)
    return project(x + direction / _flat_norm(direction, 2) * radius, x, eps, norm)


def ascent_direction(grad: Tensor, norm: Norm) -> Tensor:
    """Steepest-ascent direction of unit size for the given norm."""
    if norm == "linf":
        return grad.sign()
    return grad / _flat_norm(grad, 2)


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
    x_adv = random_start(x, eps, norm, init, init_std)
    velocity = torch.zeros_like(x) if momentum > 0 else None
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = objective(x_adv).float().sum()
        (grad,) = torch.autograd.grad(loss, x_adv)
        if velocity is not None:
            velocity = momentum * velocity + grad / _flat_norm(grad, 1)
            grad = velocity
        with torch.no_grad():
            x_adv = project(x_adv + alpha * ascent_direction(grad, norm), x, eps, norm)
    return x_adv.detach()
