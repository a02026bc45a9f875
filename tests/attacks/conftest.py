"""Fixtures for the attack tests: a digits CNN trained in seconds, run on one thread (the CPU is shared)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest
import torch
from torch import Tensor, nn
from toy_models import train_digits_cnn

from compressor.attacks import registry

EPS = 0.1  # on 8x8 digits (pixel steps of 1/16) this leaves a natural CNN about half its accuracy


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block on one intra-op thread: tiny models are faster so, and the machine is shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _single_thread() -> Iterator[None]:
    with one_thread():
        yield


@pytest.fixture(scope="session")
def digits() -> tuple[nn.Module, Tensor, Tensor]:
    """A naturally trained DigitsCNN and 64 test images."""
    with one_thread():
        model, x, y = train_digits_cnn(epochs=8)
    return model, x[:64], y[:64]


@pytest.fixture(scope="session")
def fast() -> dict[str, dict[str, int]]:
    """Reduced budgets for the fast tests (the oracle tests give both sides the same ones)."""
    return {
        "apgd-ce": {"n_iter": 20},
        "apgd-dlr": {"n_iter": 20},
        "apgd-t": {"n_iter": 10, "n_target_classes": 3},
        "fab-t": {"n_iter": 10, "n_target_classes": 3},
        "square": {"n_queries": 100},
    }


@pytest.fixture
def cheap_autoattack(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shrink AutoAttack's stages for one test: same cascade, smaller budgets."""
    shrink_attacks(
        monkeypatch,
        {
            "apgd-ce": {"n_iter": 20},
            "apgd-t": {"n_iter": 10, "n_target_classes": 3},
            "fab-t": {"n_iter": 10, "n_target_classes": 3},
            "square": {"n_queries": 100},
        },
    )


def shrink_attacks(monkeypatch: pytest.MonkeyPatch, changes: dict[str, dict[str, object]]) -> None:
    """Replace registered attacks' parameters for one test (AutoAttack reads its stages from the registry)."""
    for name, params in changes.items():
        spec = registry.ATTACKS[name]
        monkeypatch.setitem(registry._REGISTRY, name, replace(spec, params={**spec.params, **params}))
