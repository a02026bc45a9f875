"""MTARD and B-MTARD: distillation from a robust and a clean teacher (the base of CIARD).

MTARD: Zhao et al., "Enhanced Accuracy and Robustness via Multi-Teacher Adversarial Distillation",
ECCV 2022 (arXiv 2207.13147). B-MTARD: Zhao et al., "Mitigating Accuracy-Robustness Trade-off via
Balanced Multi-Teacher Adversarial Distillation", TPAMI 2024 (arXiv 2306.16170).

Attack: PGD on the student's cross-entropy, student in eval mode (their start is x + 0.001 N(0,1):
`attack.init: normal`). Loss: w_adv KL(T_rob(x')/tau_adv || S(x')) + w_nat KL(T_nat(x)/tau_nat || S(x)),
each averaged over batch x classes, temperatures on the teacher side only. B-MTARD balances the
temperatures by the teachers' entropies each step (`EntropyTemperatures`); MTARD keeps them fixed. The
weights are MTARD's adaptive ones (`AdaptiveWeights`, normalised to sum 1) or fixed 1:1. The learning
rates of both are decayed by `tau_decay_factor` at `tau_decay_at` (the authors decay them together),
once per epoch; `quirk_tau_decay_every_step` reproduces CIARD's released loop (see `DecayingRate`).
Deviations from the authors' code: the exact KL and entropy (theirs add 1e-5 inside the log); a 0/0
entropy ratio leaves the temperatures unchanged instead of making them NaN.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field
from torch import Tensor

from compressor.config.methods import Params
from compressor.config.numbers import Number
from compressor.methods.base import Method, MethodContext, StepOutput, TrainingPosition, register_method
from compressor.methods.common import (
    AdaptiveWeights,
    DecayingRate,
    EntropyTemperatures,
    ce_objective,
    kl_mean_bc,
    probs,
    run_attack,
    teacher_logits,
)
from compressor.methods.registry import register_params


class DualTeacherParams(Params):
    """Shared by MTARD, B-MTARD and CIARD: loss weights and entropy-balanced temperatures.

    Their KL terms are averaged over batch x classes (the authors' convention): 1/C of a cross-entropy's
    gradient, so under SGD they want a larger learning rate than PGD-AT (see RSLADParams); the shipped
    digits and MNIST recipes set the rate chosen on the validation split.
    """

    weights: Literal["fixed", "adaptive"] = "fixed"
    weight_lr: Number = Field(0.025, ge=0)
    balance_temperatures: bool = True
    tau_adv: Number = Field(1.0, ge=1)
    tau_nat: Number = Field(1.0, ge=1)
    tau_lr: Number = Field(0.001, ge=0)
    tau_min: Number = Field(1.0, gt=0)
    tau_max: Number = Field(10.0, gt=0)
    tau_decay_at: list[Number] = Field(default_factory=lambda: [215 / 300, 260 / 300, 285 / 300])
    tau_decay_factor: Number = Field(0.1, gt=0, le=1)
    quirk_tau_decay_every_step: bool = False


@register_params(teacher_roles=("robust", "clean"))
class MTARDParams(DualTeacherParams):
    """Zhao et al. 2022: two teachers, adaptive weights, fixed temperatures."""

    name: Literal["mtard"]
    weights: Literal["fixed", "adaptive"] = "adaptive"
    balance_temperatures: bool = False


@register_params(teacher_roles=("robust", "clean"))
class BMTARDParams(DualTeacherParams):
    """Zhao et al. 2024: MTARD with entropy-balanced temperatures."""

    name: Literal["b_mtard"]
    weights: Literal["fixed", "adaptive"] = "adaptive"


class DualTeacherDistillation(Method):
    """The dual-teacher loss shared by MTARD, B-MTARD and CIARD; subclasses add terms via hooks."""

    clean_teacher_on_adversarial: ClassVar[bool] = False

    def __init__(self, ctx: MethodContext) -> None:
        super().__init__(ctx)
        p = self.params
        self.temperatures = EntropyTemperatures(
            float(p.tau_adv), float(p.tau_nat), float(p.tau_min), float(p.tau_max), ctx.device
        )
        self.weights = AdaptiveWeights(ctx.device) if p.weights == "adaptive" else None
        decay = ([float(m) for m in p.tau_decay_at], float(p.tau_decay_factor), ctx.epochs)
        self.tau_lr = DecayingRate(float(p.tau_lr), *decay, p.quirk_tau_decay_every_step)
        self.weight_lr = DecayingRate(float(p.weight_lr), *decay, p.quirk_tau_decay_every_step)
        self.epoch = 0

    def adversarial(self, x: Tensor, y: Tensor) -> Tensor | None:
        """PGD on the student's cross-entropy."""
        return run_attack(self.ctx, ce_objective(self.student, y), x)

    def robust_logits(self, x: Tensor, x_adv: Tensor) -> Tensor:
        """T_rob(x'), the robust teacher's soft-label logits (eval mode, no graph)."""
        return teacher_logits(self.teachers["robust"], x_adv)[0]

    def extra_terms(
        self, y: Tensor, s_adv: Tensor, t_nat_adv: Tensor | None, kl_adv: Tensor, kl_nat: Tensor
    ) -> tuple[Tensor | float, dict[str, Tensor | float]]:
        """Terms added to the dual-teacher loss (none here; CIARD's push)."""
        return 0.0, {}

    def loss(self, x: Tensor, y: Tensor, x_adv: Tensor | None) -> StepOutput:
        """w_adv KL_adv + w_nat KL_nat (+ extra terms), then the temperature / weight updates."""
        assert x_adv is not None
        s_nat, s_adv = self.student(x).float(), self.student(x_adv).float()
        t_rob_adv = self.robust_logits(x, x_adv)
        nat_inputs = (x, x_adv) if self.clean_teacher_on_adversarial else (x,)
        t_nat = teacher_logits(self.teachers["clean"], *nat_inputs)
        tau = self.temperatures
        logs: dict[str, Tensor | float] = {"tau_adv": tau.adv.detach(), "tau_nat": tau.nat.detach()}
        kl_adv = kl_mean_bc(s_adv, probs(t_rob_adv, tau.adv))
        kl_nat = kl_mean_bc(s_nat, probs(t_nat[0], tau.nat))
        if self.params.balance_temperatures:
            tau.update(t_rob_adv, t_nat[0], self.tau_lr.value)
        w_adv, w_nat = self._weights(kl_adv, kl_nat)
        extra, extra_logs = self.extra_terms(y, s_adv, t_nat[-1] if len(t_nat) > 1 else None, kl_adv, kl_nat)
        total = w_adv * kl_adv + w_nat * kl_nat + extra
        logs.update(kl_adv=kl_adv.detach(), kl_nat=kl_nat.detach(), w_adv=w_adv, w_nat=w_nat, **extra_logs)
        return StepOutput(total, logs)

    def _weights(self, kl_adv: Tensor, kl_nat: Tensor) -> tuple[Tensor | float, Tensor | float]:
        """This step's loss weights: 1:1, or the adaptive ones after their update on this batch."""
        if self.weights is None:
            return 1.0, 1.0
        self.weights.update(kl_adv, kl_nat, self.weight_lr.value)
        return self.weights.adv.to(kl_adv.dtype), self.weights.nat.to(kl_adv.dtype)

    def start_epoch(self, epoch: int) -> None:
        """Set the epoch and the decayed temperature / weight learning rates."""
        self.epoch = epoch
        self.tau_lr.start_epoch(epoch)
        self.weight_lr.start_epoch(epoch)

    def after_step(self, x: Tensor, y: Tensor, x_adv: Tensor | None, progress: TrainingPosition) -> None:
        """The per-step learning-rate decay quirk, when enabled."""
        self.epoch = progress.epoch
        self.tau_lr.after_step(progress.epoch)
        self.weight_lr.after_step(progress.epoch)

    def state_dict(self) -> dict[str, Any]:
        """Temperatures, adaptive weights and the current learning rates."""
        return {
            "temperatures": self.temperatures.state_dict(),
            "weights": None if self.weights is None else self.weights.state_dict(),
            "tau_lr": self.tau_lr.value,
            "weight_lr": self.weight_lr.value,
            "epoch": self.epoch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""
        self.temperatures.load_state_dict(state["temperatures"])
        if self.weights is not None:
            self.weights.load_state_dict(state["weights"])
        self.tau_lr.value, self.weight_lr.value = state["tau_lr"], state["weight_lr"]
        self.epoch = state["epoch"]


@register_method
class MTARD(DualTeacherDistillation):
    """MTARD: adaptive weights, fixed temperatures (by default)."""

    name = "mtard"


@register_method
class BMTARD(DualTeacherDistillation):
    """B-MTARD: adaptive weights and entropy-balanced temperatures (by default)."""

    name = "b_mtard"
