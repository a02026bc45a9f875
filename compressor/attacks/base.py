"""What every attack shares: the result type, float32 logits, input gradients, norms and seeding."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

Norm = Literal["linf", "l2"]
Model = Callable[[Tensor], Tensor]
# loss(logits, y, y_target) -> per-sample loss to maximise; untargeted losses ignore y_target
Loss = Callable[[Tensor, Tensor, Tensor], Tensor]
# after each batch: on_batch(stage, points attacked so far, points to attack, how many of them stayed robust)
OnBatch = Callable[[str, int, int, int], None]


@dataclass
class AttackResult:
    """Adversarial images and, per sample, whether the model was still right on them.

    ``robust`` is the attack's own bookkeeping (a point is False once some evaluated iterate inside the
    ball was misclassified); :mod:`compressor.evaluation` re-verifies it with a forward pass.
    ``stages`` holds the robust mask after each stage of an ensemble (AutoAttack).
    """

    x_adv: Tensor
    robust: Tensor
    stages: dict[str, Tensor] = field(default_factory=dict)


def logits_of(model: Model, x: Tensor) -> Tensor:
    """The model's scores as float32 (models may run under bf16 autocast)."""
    out = model(x)
    return (out if isinstance(out, Tensor) else torch.as_tensor(out)).to(x.device).float()


@torch.no_grad()
def predict(model: Model, x: Tensor) -> Tensor:
    """Predicted labels, without building a graph."""
    return logits_of(model, x).argmax(1)


def loss_and_grad(model: Model, x: Tensor, loss: Loss, y: Tensor, y_target: Tensor) -> tuple[Tensor, ...]:
    """Logits, per-sample loss and the loss's gradient w.r.t. the input only (no weight gradients)."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = logits_of(model, x)
        value = loss(logits, y, y_target)
    (grad,) = torch.autograd.grad(value.sum(), x)
    return logits.detach(), value.detach(), grad


def lp_norm(t: Tensor, norm: Norm) -> Tensor:
    """Per-sample L-inf or L2 norm, shaped [B, 1, ..., 1] to broadcast against images."""
    flat = t.flatten(1)
    value = flat.abs().amax(1) if norm == "linf" else flat.norm(p=2, dim=1)
    return value.view(-1, *[1] * (t.dim() - 1))


def make_generator(device: torch.device, seed: int) -> torch.Generator:
    """A private random stream, so attacks are reproducible without touching global RNG state."""
    return torch.Generator(device=device).manual_seed(int(seed))


def check_inputs(x: Tensor, y: Tensor, eps: float, norm: str) -> None:
    """Reject what no attack here can handle, with a one-line reason."""
    if norm not in ("linf", "l2"):
        raise ValueError(f"norm must be 'linf' or 'l2', got {norm!r}")
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    if x.dim() < 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x [B,...] and y [B] disagree: {tuple(x.shape)} vs {tuple(y.shape)}")


def batched(
    attack: Callable[..., AttackResult],
    model: Model,
    x: Tensor,
    y: Tensor,
    *,
    batch_size: int | None = None,
    device: torch.device | str | None = None,
    on_batch: OnBatch | None = None,
    **kwargs: object,
) -> AttackResult:
    """Run ``attack`` chunk by chunk on ``device``; the result lives where ``x`` does."""
    device = torch.device(device) if device is not None else x.device
    size = batch_size or max(x.shape[0], 1)
    x_adv, robust = x.clone(), torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    for start in range(0, x.shape[0], size):
        part = slice(start, start + size)
        res = attack(model, x[part].to(device), y[part].to(device), **kwargs)
        x_adv[part], robust[part] = res.x_adv.to(x.device), res.robust.to(x.device)
        if on_batch is not None:
            done = min(start + size, x.shape[0])
            on_batch("", done, x.shape[0], int(robust[:done].sum()))
    return AttackResult(x_adv, robust)
