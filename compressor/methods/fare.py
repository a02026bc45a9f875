"""FARE (Schlarmann et al., ICML 2024, arXiv 2402.12336): unsupervised robust fine-tuning of a CLIP image tower.

Loss: ||f(x') - f_orig(x)||_2^2 on the unnormalised image embeddings (summed over dimensions, averaged
over the batch), f_orig the frozen initial encoder; the attack maximises that same per-sample distance.
Labels and text are not used, so the zero-shot head stays valid. f_orig is the recipe's ``clean`` teacher
when one is given (it must embed into the same space, e.g. the original OpenAI weights), else a frozen
copy of the student taken when the method is built. Deviation: the attack is the recipe's training
attack, plain PGD (the FARE code's PGD adds momentum 0.9 to it).
"""

from __future__ import annotations

import copy
from typing import Literal

import torch
from torch import Tensor, nn

from compressor.config.methods import Params
from compressor.errors import UserInputError
from compressor.methods.base import Method, MethodContext, StepOutput, register_method
from compressor.methods.common import run_attack
from compressor.methods.registry import register_params
from compressor.models.modes import eval_mode
from compressor.models.wrapper import unwrap


def _embedding_dim(model: nn.Module, role: str) -> int:
    """The embedding width of a CLIP classifier, or a one-line error for anything else."""
    matrix = getattr(model, "text_matrix", None)
    if matrix is None:
        raise UserInputError(f"fare needs CLIP models (source: open_clip); the {role} is not one")
    return int(matrix.shape[1])


@register_params(single_model=True)
class FAREParams(Params):
    """Schlarmann et al. 2024: ||f(x') - f_orig(x)||^2 on image embeddings (unsupervised)."""

    name: Literal["fare"]


@register_method
class FARE(Method):
    """Match the frozen original embedding of x from anywhere in the eps-ball."""

    name = "fare"

    def __init__(self, ctx: MethodContext) -> None:
        super().__init__(ctx)
        student = unwrap(ctx.student)
        original = ctx.teachers.get("clean") or copy.deepcopy(student)
        if _embedding_dim(original, "clean teacher") != _embedding_dim(student, "student"):
            raise UserInputError("fare: the clean teacher's embedding width differs from the student's")
        self.original = original.eval().requires_grad_(False)

    def _target(self, x: Tensor) -> Tensor:
        """f_orig(x), float32, no gradient."""
        with torch.no_grad(), eval_mode(self.original), self.ctx.autocast():
            return self.original(x, output="raw_embedding").float()

    def _distance(self, x_adv: Tensor, target: Tensor) -> Tensor:
        """Per-sample squared L2 distance of the student's embedding of x_adv to the target."""
        return (self.student(x_adv, output="raw_embedding").float() - target).pow(2).sum(dim=1)

    def adversarial(self, x: Tensor, y: Tensor) -> Tensor | None:
        """PGD on the embedding distance to f_orig(x)."""
        target = self._target(x)
        return run_attack(self.ctx, lambda x_adv: self._distance(x_adv, target), x)

    def loss(self, x: Tensor, y: Tensor, x_adv: Tensor | None) -> StepOutput:
        """Mean over the batch of ||f(x') - f_orig(x)||^2."""
        assert x_adv is not None
        distance = self._distance(x_adv, self._target(x)).mean()
        return StepOutput(distance, {"embedding_l2sq": distance.detach()})
