"""Train / eval mode for a block of code, restored after: the one helper methods and evaluation share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def model_mode(module: nn.Module, training: bool) -> Iterator[None]:
    """Put ``module`` in train or eval mode for the block and restore its previous mode after."""
    was_training = module.training
    module.train(training)
    try:
        yield
    finally:
        module.train(was_training)


@contextmanager
def eval_mode(model: nn.Module, *, channels_last: bool = False) -> Iterator[None]:
    """Eval mode for the block (and, if asked, channels_last convolution weights); both restored after.

    channels_last makes small-image convolutions faster under attack (APGD-CE on one EPYC core: TinyCNN
    1.29x, SmallCNN 1.20x, ResNet-56 1.00x; benchmarks/bench_eval_layout.py); evaluation asks for it.
    Weights already in another layout stay as they are.
    """
    convs = [p for p in model.parameters() if p.dim() == 4] if channels_last else []
    relayout = bool(convs) and all(p.is_contiguous() for p in convs)
    if relayout:
        model.to(memory_format=torch.channels_last)
    try:
        with model_mode(model, False):
            yield
    finally:
        if relayout:
            model.to(memory_format=torch.contiguous_format)
