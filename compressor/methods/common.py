"""Pieces shared by the training methods: KL conventions, teacher forwards, the training attack.

Every softmax / KL is computed in float32 (``.float()`` on the logits first), so bf16 autocast changes
the model outputs but not the arithmetic of the loss.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from compressor.attacks.ascent import maximize
from compressor.methods.base import MethodContext
from compressor.models.modes import model_mode


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
    """Float32 logits of a frozen teacher for each input, without graph, from one batched forward.

    Concatenating is exact for an eval-mode model (no batch statistics) and saves kernel launches on a
    GPU; a teacher left in train mode gets one forward per input instead, so its statistics stay per batch.
    """
    with torch.no_grad():
        if teacher.training or len(inputs) == 1:
            return tuple(teacher(t).float() for t in inputs)
        out = teacher(torch.cat(inputs)).float()
    return tuple(out.split([t.shape[0] for t in inputs]))


def run_attack(
    ctx: MethodContext, objective: Callable[[Tensor], Tensor], x: Tensor, student_training: bool = False
) -> Tensor:
    """The training attack of ``ctx.attack`` on ``objective``, the student in eval mode unless asked.

    The objective runs under the run's autocast; ``maximize`` takes gradients w.r.t. the input only.
    """
    a = ctx.attack

    def autocast_objective(x_adv: Tensor) -> Tensor:
        with ctx.autocast():
            return objective(x_adv)

    with model_mode(ctx.student, student_training):
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


def negative_entropy(logits: Tensor, temperature: Tensor | float) -> Tensor:
    """Mean over batch x classes of p log p for p = softmax(logits / temperature) (B-MTARD's H)."""
    p = probs(logits, temperature)
    return torch.xlogy(p, p).mean()


def state_dtype(device: torch.device) -> torch.dtype:
    """float64 for the slowly drifting scalar state (as the reference's Python floats), float32 on MPS."""
    return torch.float32 if device.type == "mps" else torch.float64


class EntropyTemperatures:
    """B-MTARD's teacher temperatures: each step, move the hotter-entropy teacher toward the other.

    With H = mean p log p of each tempered teacher: tau_adv -= lr sign(H_adv/H_nat - 1) and
    tau_nat -= lr sign(H_nat/H_adv - 1), clamped to [lo, hi]. Kept on the device (no host sync).
    """

    def __init__(self, tau_adv: float, tau_nat: float, lo: float, hi: float, device: torch.device) -> None:
        dtype = state_dtype(device)
        self.adv = torch.tensor(tau_adv, dtype=dtype, device=device)
        self.nat = torch.tensor(tau_nat, dtype=dtype, device=device)
        self.lo, self.hi = lo, hi

    def update(self, adv_teacher_logits: Tensor, nat_teacher_logits: Tensor, lr: float) -> None:
        """One sign step from the teachers' logits tempered by the current temperatures."""
        h_adv = negative_entropy(adv_teacher_logits, self.adv).to(self.adv.dtype)
        h_nat = negative_entropy(nat_teacher_logits, self.nat).to(self.nat.dtype)
        step_adv = torch.sign(h_adv / h_nat - 1).nan_to_num(0.0)
        step_nat = torch.sign(h_nat / h_adv - 1).nan_to_num(0.0)
        self.adv = (self.adv - lr * step_adv).clamp(self.lo, self.hi)
        self.nat = (self.nat - lr * step_nat).clamp(self.lo, self.hi)

    def state_dict(self) -> dict[str, Tensor]:
        """The two temperatures."""
        return {"adv": self.adv.clone(), "nat": self.nat.clone()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        """Restore the temperatures on this object's device."""
        self.adv = state["adv"].to(self.adv)
        self.nat = state["nat"].to(self.nat)


class AdaptiveWeights:
    """MTARD's loss weights: w <- w - lr (w - r / (r_adv + r_nat)), clipped at 0, normalised to sum 1.

    r is each KL term relative to its value at the first step, divided by the mean of the two.
    """

    def __init__(self, device: torch.device) -> None:
        dtype = state_dtype(device)
        self.adv = torch.tensor(0.5, dtype=dtype, device=device)
        self.nat = torch.tensor(0.5, dtype=dtype, device=device)
        self.initial: Tensor | None = None

    def update(self, kl_adv: Tensor, kl_nat: Tensor, lr: float) -> None:
        """One step toward the normalised loss ratios of this batch."""
        losses = torch.stack([kl_adv.detach(), kl_nat.detach()]).to(self.adv.dtype)
        if self.initial is None:
            self.initial = losses
        relative = losses / self.initial
        ratio = relative / relative.mean()
        target = ratio / ratio.sum()
        adv = (self.adv - lr * (self.adv - target[0])).clamp_min(0)
        nat = (self.nat - lr * (self.nat - target[1])).clamp_min(0)
        self.adv, self.nat = adv / (adv + nat), nat / (adv + nat)

    def state_dict(self) -> dict[str, Tensor | None]:
        """Weights and the first-step losses."""
        return {"adv": self.adv.clone(), "nat": self.nat.clone(), "initial": self.initial}

    def load_state_dict(self, state: dict[str, Tensor | None]) -> None:
        """Restore what `state_dict` returned."""
        adv, nat, initial = state["adv"], state["nat"], state["initial"]
        assert adv is not None and nat is not None
        self.adv, self.nat = adv.to(self.adv), nat.to(self.nat)
        self.initial = None if initial is None else initial.to(self.adv)


class DecayingRate:
    """A rate multiplied by ``factor`` at milestone epochs (fractions of training).

    Clean behaviour: set once per epoch, decayed from the epoch after each milestone (B-MTARD's
    placement). ``every_step`` reproduces CIARD's released loop, where the decay sits inside the batch
    loop and fires on every step of each milestone epoch.
    """

    def __init__(self, base: float, milestones: list[float], factor: float, epochs: int, every_step: bool):
        self.base, self.value, self.factor, self.every_step = base, base, factor, every_step
        self.milestones = [round(m * epochs) for m in milestones]

    def start_epoch(self, epoch: int) -> None:
        """Set the rate for 0-based ``epoch`` (no-op in the per-step quirk)."""
        if not self.every_step:
            self.value = self.base * self.factor ** sum(epoch >= m for m in self.milestones)

    def after_step(self, epoch: int) -> None:
        """Per-step quirk: decay on every step of a milestone epoch (1-based numbering)."""
        if self.every_step:
            self.value *= self.factor ** self.milestones.count(epoch + 1)
