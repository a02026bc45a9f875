"""The one interface every training method implements (the registry is `compressor.methods.registry`).

A method says (1) how the training adversarial examples are made, (2) the loss from the student's and
teachers' outputs, and (3) optional hooks (after each step, at each epoch start) for methods that also
update a teacher or their own state (CIARD's teacher retraining and temperatures). One trainer runs them
all, so precision, compile, DDP, resume and logging cannot drift between methods.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor, nn

from compressor.config.schema import AttackConfig
from compressor.methods.registry import get_method, method_names, register_method

if TYPE_CHECKING:
    from compressor.engine.precision import Speed

__all__ = [
    "Method",
    "MethodContext",
    "TrainingPosition",
    "StepOutput",
    "get_method",
    "method_names",
    "register_method",
]


@dataclass
class TrainingPosition:
    """Where training is: epoch (0-based), step within it, global step, and the totals."""

    epoch: int
    step: int
    global_step: int
    epochs: int
    steps_per_epoch: int

    @property
    def fraction(self) -> float:
        """Fraction of training done, in [0, 1]."""
        return self.global_step / max(1, self.epochs * self.steps_per_epoch)


@dataclass
class MethodContext:
    """Everything a method may use: models, the training attack, its parameters, the run's settings."""

    student: nn.Module
    teachers: dict[str, nn.Module]
    attack: AttackConfig
    params: Any
    epochs: int
    steps_per_epoch: int
    device: torch.device
    autocast: Callable[[], AbstractContextManager[Any]] = nullcontext


@dataclass
class StepOutput:
    """The loss to back-propagate and scalars to log (tensors are fine: the trainer syncs lazily)."""

    loss: Tensor
    logs: dict[str, Tensor | float] = field(default_factory=dict)


class Method:
    """Base class: subclasses set `name` and implement `adversarial` and `loss`."""

    name: ClassVar[str] = ""

    def __init__(self, ctx: MethodContext) -> None:
        self.ctx = ctx
        self.params = ctx.params
        self.student = ctx.student
        self.teachers = ctx.teachers

    def adversarial(self, x: Tensor, y: Tensor) -> Tensor | None:
        """Training adversarial examples for the batch (None when the method trains on clean data)."""
        raise NotImplementedError

    def loss(self, x: Tensor, y: Tensor, x_adv: Tensor | None) -> StepOutput:
        """The training loss; called with the student in train mode and under the run's autocast."""
        raise NotImplementedError

    def start_epoch(self, epoch: int) -> None:  # noqa: B027 - optional hook
        """Hook at the start of each epoch."""

    def after_step(self, x: Tensor, y: Tensor, x_adv: Tensor | None, progress: TrainingPosition) -> None:  # noqa: B027
        """Hook after each optimiser step of the student (e.g. retrain a teacher)."""

    def state_dict(self) -> dict[str, Any]:
        """Method state that a resume needs (temperatures, weights, teacher optimiser...)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:  # noqa: B027
        """Restore what `state_dict` returned."""

    def trained_teachers(self) -> dict[str, nn.Module]:
        """Teachers this method updates, so the trainer checkpoints them too."""
        return {}


def build_method(
    params: Any,
    student: nn.Module,
    teachers: dict[str, nn.Module],
    attack: AttackConfig,
    *,
    epochs: int,
    steps_per_epoch: int,
    speed: Speed,
) -> Method:
    """Instantiate the registered method `params` names (its recipe section), for `student` and `teachers`."""
    cls = get_method(params.name)
    ctx = MethodContext(
        student=student,
        teachers=teachers,
        attack=attack,
        params=params,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        device=speed.device,
        autocast=speed.autocast(),
    )
    return cls(ctx)
