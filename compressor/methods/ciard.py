"""CIARD: Cyclic Iterative Adversarial Robustness Distillation (Lu et al., ICCV 2025, arXiv 2509.12633).

B-MTARD's dual-teacher loss (see `mtard`) plus two ideas, following the authors' released CIFAR-10 script
(github.com/eminentgu/CIARD):

- Push: on the samples where the clean teacher is wrong under attack (argmax T_nat(x') != y),
  push = mean over those samples x classes of KL(T_nat(x') || S(x')/5), *subtracted* with weight lambda.
  `push_scale: auto` is the authors' power of ten, 10^(min(floor log10 KL_adv, floor log10 KL_nat) -
  floor log10 push), computed each step without gradient (the paper's "lambda = 1 after rescaling"); a
  number fixes lambda. No selected sample or a non-finite value gives push = 0. `push_cap` clips push
  (no gradient above it) so the loss stays bounded below; logged as push_capped.
- Robust-teacher retraining: after `warmup_fraction` of the epochs, after every student step, one SGD
  step of CE(T_rob(x'), y) for the robust teacher with its own optimiser (momentum 0.1, wd 2e-4) and lr
  base (0.5 + 0.5 cos(pi t)) exp(-0.01 t^2), t the fraction of the post-warm-up epochs reached (1-based
  epoch numbering, as theirs); no step, so no change, before the warm-up ends.

Quirk of the released script, off by default (`quirk_teacher_train_mode`): the robust teacher runs in
train mode for its soft labels (batch statistics, and its BatchNorm statistics drift from epoch 1, even
at lr 0, including through an unused T_rob(x) forward), and the same forward feeds its CE step. Clean
default: soft labels from an eval-mode forward without graph; BatchNorm statistics move only in the
retraining step (`teacher_retrain.batchnorm: update`, a second, train-mode forward) or never (`frozen`:
the eval-mode soft-label forward keeps its graph and feeds the CE step, one teacher forward fewer). The
per-step tau decay quirk is `quirk_tau_decay_every_step` (see `mtard`); selecting the best checkpoint on
the test set is the trainer's `train.quirk_select_on_test`. Under DDP the teacher's gradients are
averaged over ranks (its BatchNorm statistics stay per rank).
Deviations from the released script: loss weights are fixed 1:1 by default (the released code computes
MTARD's adaptive weights, then uses 1:1; `weights: adaptive` applies them); exact KL / entropy (theirs add
1e-5 in the log);
the student's clean forward runs after the attack (theirs runs before, so their eval-mode attack sees
BatchNorm running statistics already updated by the clean batch); the attack's start x + 0.001 N(0,1) is
clamped to [0,1] (theirs is not). With these aligned, one step matches theirs bit for bit
(benchmarks/bench_ciard_step.py checks it).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.distributed as dist
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from compressor.config.numbers import Number
from compressor.config.schema import Strict
from compressor.methods.base import MethodContext, TrainingPosition, register_method
from compressor.methods.common import kl_elementwise, probs
from compressor.methods.mtard import DualTeacherDistillation, DualTeacherParams
from compressor.methods.registry import register_params
from compressor.models.modes import model_mode


def magnitude(value: Tensor) -> Tensor:
    """floor(log10 |value|), with 0 read as 1e-7 (the authors' guard), on the device."""
    v = value.detach().double().abs()
    return torch.floor(torch.log10(torch.where(v == 0, torch.full_like(v, 1e-7), v)))


def push_term(s_adv: Tensor, t_nat_adv: Tensor, y: Tensor, temperature: float) -> tuple[Tensor, Tensor]:
    """Mean KL(T_nat(x') || S(x')/T) over the samples T_nat gets wrong, and their count (0 if none)."""
    wrong = t_nat_adv.argmax(dim=1) != y
    kl = kl_elementwise(F.log_softmax(s_adv.float() / temperature, dim=1), probs(t_nat_adv))
    count = wrong.sum()
    push = torch.where(wrong[:, None], kl, 0.0).sum() / (count * kl.shape[1]).clamp_min(1)
    return torch.where((count > 0) & push.isfinite(), push, 0.0), count


def teacher_lr(base: float, epoch: int, warmup_epochs: int, epochs: int) -> float:
    """The robust teacher's lr at 0-based `epoch`: 0 in the warm-up, then cosine x exponential to 0."""
    if epoch < warmup_epochs:
        return 0.0
    t = (epoch + 1 - warmup_epochs) / max(1, epochs - warmup_epochs)
    return base * (0.5 + 0.5 * math.cos(math.pi * t)) * math.exp(-0.01 * t**2)


def average_gradients(module: torch.nn.Module) -> None:
    """Under DDP, average the teacher's gradients over ranks so every replica takes the same step."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    for param in module.parameters():
        if param.grad is not None:
            dist.all_reduce(param.grad)  # SUM: gloo has no AVG
            param.grad /= dist.get_world_size()


def sync_buffers(module: torch.nn.Module) -> None:
    """Under DDP, give every replica rank 0's BatchNorm statistics (they drift apart per rank otherwise)."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    for buffer in module.buffers():
        dist.broadcast(buffer, src=0)


class TeacherRetrainParams(Strict):
    """CIARD's continuous retraining of the robust teacher on the student's adversarial examples."""

    enabled: bool = True
    warmup_fraction: Number = Field(50 / 300, ge=0, le=1)
    lr: Number = Field(1e-4, ge=0)
    momentum: Number = Field(0.1, ge=0, lt=1)
    weight_decay: Number = Field(2e-4, ge=0)
    batchnorm: Literal["update", "frozen"] = "update"


@register_params(teacher_roles=("robust", "clean"))
class CIARDParams(DualTeacherParams):
    """Lu et al. 2025 (arXiv 2509.12633): dual teachers, push term, robust-teacher retraining."""

    name: Literal["ciard"]
    push_temperature: Number = Field(5.0, gt=0)
    push_scale: Literal["auto"] | Number = "auto"
    push_cap: Number | None = Field(10.0, gt=0)
    teacher_retrain: TeacherRetrainParams = Field(default_factory=TeacherRetrainParams)
    quirk_teacher_train_mode: bool = False


@register_method
class CIARD(DualTeacherDistillation):
    """Dual-teacher distillation with the push term and continuous robust-teacher retraining."""

    name = "ciard"
    clean_teacher_on_adversarial = True

    def __init__(self, ctx: MethodContext) -> None:
        super().__init__(ctx)
        self.retrain = self.params.teacher_retrain
        self.robust = self.teachers["robust"]
        self.warmup_epochs = round(float(self.retrain.warmup_fraction) * ctx.epochs)
        self.teacher_optimizer: torch.optim.SGD | None = None
        if self.retrain.enabled:
            self.robust.requires_grad_(True)
            self.teacher_optimizer = torch.optim.SGD(
                self.robust.parameters(),
                lr=0.0,
                momentum=float(self.retrain.momentum),
                weight_decay=float(self.retrain.weight_decay),
            )
        self._pending_logits: Tensor | None = None

    def retraining(self) -> bool:
        """Whether the robust teacher takes a step after this epoch's student steps."""
        return self.teacher_optimizer is not None and self.epoch >= self.warmup_epochs

    def robust_logits(self, x: Tensor, x_adv: Tensor) -> Tensor:
        """T_rob(x'); its graph is kept for the CE step when the modes match (quirk, frozen BN)."""
        train_mode = self.params.quirk_teacher_train_mode
        reuse = self.retraining() and (train_mode or self.retrain.batchnorm == "frozen")
        if not (train_mode or reuse):
            return super().robust_logits(x, x_adv)
        with model_mode(self.robust, train_mode):
            if train_mode:
                with torch.no_grad():
                    self.robust(x)  # the reference's unused forward: it moves BatchNorm statistics
            with torch.set_grad_enabled(reuse):
                logits = self.robust(x_adv).float()
        self._pending_logits = logits if reuse else None
        return logits.detach()

    def extra_terms(
        self, y: Tensor, s_adv: Tensor, t_nat_adv: Tensor | None, kl_adv: Tensor, kl_nat: Tensor
    ) -> tuple[Tensor | float, dict[str, Tensor | float]]:
        """-lambda * min(push, cap), with lambda the authors' power of ten or a fixed number."""
        assert t_nat_adv is not None
        p = self.params
        push, count = push_term(s_adv, t_nat_adv, y, float(p.push_temperature))
        if p.push_scale == "auto":
            lam = torch.pow(10.0, torch.minimum(magnitude(kl_adv), magnitude(kl_nat)) - magnitude(push))
            lam = lam.to(push.dtype)
        else:
            lam = torch.tensor(float(p.push_scale), device=push.device)
        capped = torch.zeros((), dtype=torch.bool, device=push.device)
        used = push
        if p.push_cap is not None:
            capped = push > float(p.push_cap)
            used = push.clamp(max=float(p.push_cap))
        logs: dict[str, Tensor | float] = {
            "push": push.detach(),
            "push_lambda": lam,
            "push_selected": count,
            "push_capped": capped,
        }
        return -lam * used, logs

    def after_step(self, x: Tensor, y: Tensor, x_adv: Tensor | None, progress: TrainingPosition) -> None:
        """After the student's step: the tau-decay quirk, then one SGD step of the robust teacher."""
        super().after_step(x, y, x_adv, progress)
        pending, self._pending_logits = self._pending_logits, None
        if not self.retraining() or self.teacher_optimizer is None:
            return
        assert x_adv is not None
        lr = teacher_lr(float(self.retrain.lr), progress.epoch, self.warmup_epochs, self.ctx.epochs)
        for group in self.teacher_optimizer.param_groups:
            group["lr"] = lr
        with torch.enable_grad():
            if pending is None:
                with model_mode(self.robust, self.retrain.batchnorm == "update"), self.ctx.autocast():
                    pending = self.robust(x_adv).float()
            self.teacher_optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(pending, y).backward()
        average_gradients(self.robust)
        self.teacher_optimizer.step()
        if self.retrain.batchnorm == "update":
            sync_buffers(self.robust)

    def trained_teachers(self) -> dict[str, torch.nn.Module]:
        """The robust teacher, when it is retrained."""
        return {"robust": self.robust} if self.teacher_optimizer is not None else {}

    def state_dict(self) -> dict[str, Any]:
        """The dual-teacher state plus the teacher optimiser."""
        state = super().state_dict()
        if self.teacher_optimizer is not None:
            state["teacher_optimizer"] = self.teacher_optimizer.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""
        super().load_state_dict(state)
        if self.teacher_optimizer is not None:
            self.teacher_optimizer.load_state_dict(state["teacher_optimizer"])
