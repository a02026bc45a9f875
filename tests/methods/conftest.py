"""Tiny models and contexts for the method tests (8x8 inputs, 4 classes, CPU)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from compressor.config.schema import AttackConfig
from compressor.methods.base import Method, MethodContext, StepOutput, TrainingPosition

NUM_CLASSES = 4


def tiny_cnn(seed: int, num_classes: int = NUM_CLASSES) -> nn.Module:
    """A 2-layer CNN with BatchNorm on 3x8x8 inputs, deterministic from ``seed``."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(32, num_classes),
    )


def frozen(model: nn.Module) -> nn.Module:
    """An eval-mode teacher without gradients, as the trainer hands it over."""
    model.eval()
    model.requires_grad_(False)
    return model


def make_ctx(params: Any, teachers: tuple[str, ...] = (), epochs: int = 4, steps: int = 2) -> MethodContext:
    """A context with a tiny student, the requested teachers and a 2-step training attack."""
    return MethodContext(
        student=tiny_cnn(0),
        teachers={role: frozen(tiny_cnn(i + 1)) for i, role in enumerate(teachers)},
        attack=AttackConfig(eps=8 / 255, alpha=2 / 255, steps=2),
        params=params,
        epochs=epochs,
        steps_per_epoch=steps,
        device=torch.device("cpu"),
    )


class Reference:
    """Expected values from explicit formulas (exp / sum / log in float64), independent of the code."""

    @staticmethod
    def softmax(logits: torch.Tensor, t: float = 1.0) -> torch.Tensor:
        z = (logits.double() / t).exp()
        return z / z.sum(dim=1, keepdim=True)

    @classmethod
    def kl(cls, s_logits: torch.Tensor, q: torch.Tensor, t: float = 1.0) -> torch.Tensor:
        """Element-wise q (log q - log softmax(s / t)), a B x C matrix."""
        q = q.double()
        return q * (q.log() - cls.softmax(s_logits, t).log())

    @classmethod
    def ce(cls, logits: torch.Tensor, y: torch.Tensor) -> float:
        return -cls.softmax(logits).log()[torch.arange(len(y)), y].mean().item()


@pytest.fixture
def ref() -> type[Reference]:
    """Reference formulas for the expected losses."""
    return Reference


@pytest.fixture
def ctx_factory():
    """The `make_ctx` factory, as a fixture (test modules do not import conftest)."""
    return make_ctx


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Eight random 3x8x8 images in [0,1] and labels."""
    g = torch.Generator().manual_seed(0)
    return torch.rand(8, 3, 8, 8, generator=g), torch.randint(0, NUM_CLASSES, (8,), generator=g)


def train_step(method: Method, x: torch.Tensor, y: torch.Tensor, progress: TrainingPosition) -> StepOutput:
    """One step as the trainer runs it: attack, loss in train mode, SGD step, the after-step hook."""
    student = method.student
    optimizer = torch.optim.SGD(student.parameters(), lr=0.1)
    x_adv = method.adversarial(x, y)
    student.train()
    out = method.loss(x, y, x_adv)
    optimizer.zero_grad()
    out.loss.backward()
    grads = [p.grad for p in student.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads), "student grads must be finite"
    optimizer.step()
    method.after_step(x, y, x_adv, progress)
    return out


@pytest.fixture
def step():
    """The `train_step` helper, as a fixture."""
    return train_step
