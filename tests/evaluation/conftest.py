"""Fixtures for the evaluation tests: a digits CNN trained in seconds, run on one thread (shared CPU)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch import Tensor, nn
from toy_models import train_digits_cnn


@pytest.fixture(autouse=True)
def _single_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def digits() -> tuple[nn.Module, Tensor, Tensor]:
    """A naturally trained DigitsCNN and 96 test images."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    model, x, y = train_digits_cnn(epochs=8)
    torch.set_num_threads(before)
    return model, x[:96], y[:96]
