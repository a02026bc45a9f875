"""MMT-ARD (Li et al. 2025, arXiv 2511.17448): robust + clean CLIP teachers distil a CLIP student.

Attack: momentum PGD (momentum on L1-normalised gradients, uniform start) maximising the batchmean
KL(S(x') || T_nat(x)), the clean teacher's prediction on the clean image as the target. Loss, as in the
released ``compute_adv_loss``:

    L = mean over B x C of ( w_adv * c_rob * kl(S(x'), T_rob(x')) + w_clean * c_nat * kl(S(x), T_nat(x)) )

with c each teacher's confidence in the true class of the sample: the raw cosine between its image
embedding and the class's text embedding ("cosine", the released code; logits / logit_scale), its softmax
probability ("softmax"), or 1 ("none"). Deviation: cosines are clamped at 0. With trained CLIP teachers
true-class cosines are positive (about 0.1-0.35) and nothing changes; a negative one (random-init or
broken teachers) would flip a KL term into one the student maximises, as the released code would.

``balance: sigmoid`` is this project's reading of the paper's "adaptive sigmoid-based weighting" (the
released code does not contain it): with L_adv, L_clean the two confidence-weighted KL terms (before
w_adv, w_clean), the clean term's share is s = sigmoid(k * (L_clean - L_adv) / (L_clean + L_adv)),
smoothed across steps by an exponential moving average (momentum ``sigmoid_momentum``, start 0.5); the
terms are then multiplied by 2s (clean) and 2(1 - s) (adversarial), so the teacher the student lags
behind gets more weight, and s = 0.5 recovers the fixed weights.

``clean_teacher: robust`` is the single-robust-teacher baseline of the paper's comparison: the same loss
and attack with the robust teacher in both roles (the clean teacher is not used).

Each model's logits use its own fixed text head, as released. Other deviations from the released code:
T_nat(x) is computed once per batch and reused by the loss (released: twice, same values). The attack
accumulates L1-normalised gradients and steps along the sign of the sum (MI-FGSM, the momentum the paper
describes); the released ``pgd`` takes signs of the gradient and of the accumulated velocity every step,
which with momentum 0.9 < 1 makes each step the sign of the current gradient, plain PGD in effect: set
``attack_momentum: 0`` to reproduce that.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from compressor.attacks.ascent import maximize
from compressor.config.methods import Params
from compressor.config.numbers import Number
from compressor.errors import UserInputError
from compressor.methods.base import Method, MethodContext, StepOutput, register_method
from compressor.methods.common import kl_elementwise, kl_objective, probs, teacher_logits
from compressor.methods.registry import register_params
from compressor.models.modes import eval_mode


def confidence(logits: Tensor, y: Tensor, kind: str, logit_scale: float = 100.0) -> Tensor:
    """Per-sample weight c: the teacher's cosine to the true class's text (at least 0), its softmax prob, or 1."""
    true = logits.gather(1, y[:, None]).squeeze(1)
    if kind == "cosine":
        return (true / logit_scale).clamp_min(0.0)
    if kind == "softmax":
        return probs(logits).gather(1, y[:, None]).squeeze(1)
    return torch.ones_like(true)


def weighted_kl(student_logits: Tensor, teacher_logits: Tensor, weights: Tensor) -> Tensor:
    """Mean over B x C of weights[b] * kl(S, T)[b, c], in float32."""
    log_p = F.log_softmax(student_logits.float(), dim=1)
    return (weights.float()[:, None] * kl_elementwise(log_p, probs(teacher_logits))).mean()


def clean_share(l_clean: Tensor, l_adv: Tensor, k: float) -> Tensor:
    """sigmoid(k * (L_clean - L_adv) / (L_clean + L_adv)): above 0.5 when the clean term lags behind."""
    return torch.sigmoid(k * (l_clean - l_adv) / (l_clean + l_adv).clamp_min(1e-12))


def momentum_attack(
    ctx: MethodContext, objective: Callable[[Tensor], Tensor], x: Tensor, momentum: float
) -> Tensor:
    """The recipe's training attack with momentum, student in eval mode, objective under autocast."""
    a = ctx.attack

    def autocast_objective(x_adv: Tensor) -> Tensor:
        with ctx.autocast():
            return objective(x_adv)

    with eval_mode(ctx.student):
        return maximize(
            autocast_objective,
            x,
            eps=float(a.eps),
            alpha=float(a.alpha),
            steps=a.steps,
            norm=a.norm,
            init=a.init,
            init_std=float(a.init_std),
            momentum=momentum,
        )


@register_params(teacher_roles=("robust", "clean"))
class MMTARDParams(Params):
    """Li et al. 2025 (arXiv 2511.17448): confidence-weighted dual-teacher KL for CLIP students."""

    name: Literal["mmt_ard"]
    w_adv: Number = Field(50.0, ge=0)
    w_clean: Number = Field(5.0, ge=0)
    confidence: Literal["cosine", "softmax", "none"] = "cosine"
    balance: Literal["fixed", "sigmoid"] = "fixed"
    sigmoid_k: Number = Field(5.0, gt=0)
    sigmoid_momentum: Number = Field(0.9, ge=0, lt=1)
    attack_momentum: Number = Field(0.9, ge=0, lt=1)
    clean_teacher: Literal["clean", "robust"] = "clean"  # robust: the single-robust-teacher baseline

    def needed_teachers(self) -> tuple[str, ...]:
        """Both teachers, or only the robust one in the single-robust-teacher baseline."""
        return ("robust", "clean") if self.clean_teacher == "clean" else ("robust",)


@register_method
class MMTARD(Method):
    """Confidence-weighted dual-teacher KL, attack against the clean teacher (see module docstring)."""

    name = "mmt_ard"

    def __init__(self, ctx: MethodContext) -> None:
        super().__init__(ctx)
        self.robust = ctx.teachers["robust"]
        self.clean = ctx.teachers[self.params.clean_teacher]
        self.scales = {"robust": getattr(self.robust, "logit_scale", None)}
        self.scales["clean"] = getattr(self.clean, "logit_scale", None)
        not_clip = [role for role, scale in self.scales.items() if scale is None]
        if self.params.confidence == "cosine" and not_clip:
            raise UserInputError(
                f"mmt_ard confidence 'cosine' needs CLIP teachers; the {not_clip[0]} teacher is not "
                "(source: open_clip), so use confidence: softmax or none"
            )
        self.share = torch.tensor(0.5, device=ctx.device)
        self._clean_cache: tuple[Tensor, Tensor] | None = None

    def _clean_logits(self, x: Tensor) -> Tensor:
        """T_nat(x), computed once per batch (the attack and the loss both need it)."""
        if self._clean_cache is None or self._clean_cache[0] is not x:
            with eval_mode(self.clean), self.ctx.autocast():
                self._clean_cache = (x, teacher_logits(self.clean, x)[0])
        return self._clean_cache[1]

    def adversarial(self, x: Tensor, y: Tensor) -> Tensor | None:
        """Momentum PGD on batchmean KL(S(x') || T_nat(x))."""
        target = probs(self._clean_logits(x))
        return momentum_attack(
            self.ctx, kl_objective(self.student, target), x, float(self.params.attack_momentum)
        )

    def loss(self, x: Tensor, y: Tensor, x_adv: Tensor | None) -> StepOutput:
        """w_adv * c_rob-weighted KL to T_rob(x') plus w_clean * c_nat-weighted KL to T_nat(x)."""
        assert x_adv is not None
        p = self.params
        t_nat = self._clean_logits(x)
        self._clean_cache = None
        with eval_mode(self.robust):
            (t_rob,) = teacher_logits(self.robust, x_adv)
        c_rob = confidence(t_rob, y, p.confidence, self.scales["robust"] or 1.0)
        c_nat = confidence(t_nat, y, p.confidence, self.scales["clean"] or 1.0)
        kl_adv = weighted_kl(self.student(x_adv), t_rob, c_rob)
        kl_nat = weighted_kl(self.student(x), t_nat, c_nat)
        m_adv: Tensor | float = 1.0
        m_nat: Tensor | float = 1.0
        if p.balance == "sigmoid":
            share = clean_share(kl_nat.detach(), kl_adv.detach(), float(p.sigmoid_k))
            mom = float(p.sigmoid_momentum)
            self.share = mom * self.share + (1 - mom) * share
            m_adv, m_nat = 2 * (1 - self.share), 2 * self.share
        total = float(p.w_adv) * m_adv * kl_adv + float(p.w_clean) * m_nat * kl_nat
        logs: dict[str, Tensor | float] = {
            "kl_adv": kl_adv.detach(),
            "kl_nat": kl_nat.detach(),
            "c_rob": c_rob.mean(),
            "c_nat": c_nat.mean(),
        }
        if p.balance == "sigmoid":
            logs["clean_share"] = self.share
        return StepOutput(total, logs)

    def state_dict(self) -> dict[str, float]:
        """The smoothed clean share of the sigmoid balancing."""
        return {"clean_share": float(self.share)}

    def load_state_dict(self, state: dict[str, float]) -> None:
        """Restore the smoothed clean share."""
        self.share = torch.tensor(state.get("clean_share", 0.5), device=self.ctx.device)
