"""Fast adversarial training (Wong, Rice & Kolter, ICLR 2020, arXiv 2001.03994): FGSM with a random start.

One gradient step from a uniform start in the eps-ball, of size alpha_scale x eps, then CE on the result:
about the cost of two forward-backward passes instead of PGD-10's eleven. Single-step training can collapse
("catastrophic overfitting": FGSM accuracy soars while PGD accuracy falls to ~0 within a few steps); the paper
guards by watching the PGD accuracy of its first training batch and stopping on a drop of more than 0.2. Here,
every `guard_every` steps PGD (the recipe's training attack, from the same random start each time) runs in eval
mode on that fixed batch (the first the method sees; a resumed run takes its first batch again), so the reading
moves with the model only; once it falls more than `guard_drop` below the best seen, training switches to PGD
examples for the rest of the run (logged as `guard_pgd`, `pgd_fallback`). Measured on Fashion-MNIST at eps 0.1:
FGSM-RS training collapsed within its second epoch (validation PGD accuracy 58.4 -> 43.2 -> 33.2%), and a
guard that waits for the reading to halve fired only in the fourth; the 0.2 drop fires early. The trainer's
per-epoch PGD validation and best-checkpoint selection stay in force as for every method.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from compressor.config.methods import Params
from compressor.config.numbers import Number
from compressor.methods.base import Method, MethodContext, StepOutput, TrainingPosition, register_method
from compressor.methods.common import ce_objective, run_attack
from compressor.methods.registry import register_params
from compressor.models.modes import model_mode


@register_params(single_model=True)
class FastATParams(Params):
    """Wong et al. 2020 ("Fast is better than free"): CE on one FGSM step from a uniform random start.

    About 1/5 of PGD-10 training's cost. The step is alpha_scale x eps (the paper's 1.25). Guard against
    catastrophic overfitting: every guard_every steps PGD (the recipe's training attack, same random start)
    is run on one fixed training batch (the first, as the paper's); when its accuracy falls more than
    guard_drop (the paper's 0.2) below its best so far, training switches to PGD for good.
    """

    name: Literal["fast_at"]
    alpha_scale: Number = Field(1.25, gt=0, le=2)
    guard_every: int = Field(50, ge=1)
    guard_drop: Number = Field(0.2, gt=0, le=1)


@register_method
class FastAT(Method):
    """CE(S(x'), y) with x' = one FGSM step from a random start (PGD after a detected collapse)."""

    name = "fast_at"

    def __init__(self, ctx: MethodContext) -> None:
        super().__init__(ctx)
        eps = float(ctx.attack.eps)
        single = ctx.attack.model_copy(
            update={"steps": 1, "alpha": float(self.params.alpha_scale) * eps, "init": "uniform"}
        )
        self.fgsm_ctx = replace(ctx, attack=single)
        self.guard_batch: tuple[Tensor, Tensor] | None = None
        self.best_guard = 0.0
        self.last_guard: float | None = None
        self.fallback = False

    def adversarial(self, x: Tensor, y: Tensor) -> Tensor | None:
        """FGSM-RS on the student's cross-entropy (the training attack once the guard has fired)."""
        ctx = self.ctx if self.fallback else self.fgsm_ctx
        return run_attack(ctx, ce_objective(self.student, y), x)

    def loss(self, x: Tensor, y: Tensor, x_adv: Tensor | None) -> StepOutput:
        """Cross-entropy on the adversarial batch."""
        assert x_adv is not None
        ce = F.cross_entropy(self.student(x_adv).float(), y)
        logs: dict[str, Tensor | float] = {"ce_adv": ce.detach(), "pgd_fallback": float(self.fallback)}
        if self.last_guard is not None:
            logs["guard_pgd"] = self.last_guard
        return StepOutput(ce, logs)

    def after_step(self, x: Tensor, y: Tensor, x_adv: Tensor | None, progress: TrainingPosition) -> None:
        """Every guard_every steps: PGD accuracy on the fixed guard batch; fall back to PGD when it collapses."""
        if self.guard_batch is None:
            self.guard_batch = (x.detach().clone(), y.detach().clone())
        if self.fallback or progress.global_step % int(self.params.guard_every):
            return
        accuracy = self.pgd_accuracy(*self.guard_batch)
        self.last_guard = accuracy
        if accuracy < self.best_guard - float(self.params.guard_drop):
            self.fallback = True
        self.best_guard = max(self.best_guard, accuracy)

    def pgd_accuracy(self, x: Tensor, y: Tensor) -> float:
        """The student's accuracy (eval mode) on PGD examples of the batch, under the recipe's attack, from
        the same random start at every call (the training's random streams are left as they were)."""
        with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
            torch.manual_seed(0)
            x_pgd = run_attack(self.ctx, ce_objective(self.student, y), x)
        with torch.no_grad(), model_mode(self.student, False), self.ctx.autocast():
            return float((self.student(x_pgd).argmax(1) == y).float().mean())

    def state_dict(self) -> dict[str, object]:
        """The guard's decision, so a resumed run keeps training with PGD once it fell back."""
        return {"fallback": self.fallback}

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Restore the fallback decision; the guard measures a new first batch, so its best starts again."""
        self.fallback = bool(state.get("fallback", False))
