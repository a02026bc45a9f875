"""Tiny random-init open_clip classifiers (32px, offline) for the CLIP tests."""

from __future__ import annotations

import copy
import functools
from typing import Any

import pytest
import torch

from compressor.config.schema import LoRAConfig, ModelSpec
from compressor.models.clip import ZeroShotClassifier, build_clip_classifier

CLASSES = ["cat", "dog", "car"]


@functools.cache
def _build(name: str, seed: int, classes: tuple[str, ...], spec: str) -> ZeroShotClassifier:
    torch.manual_seed(seed)
    return build_clip_classifier(ModelSpec.model_validate_json(spec), list(classes))


def tiny_clip(
    name: str = "compressor-tiny-vit", seed: int = 0, classes: list[str] | None = None, **spec: Any
) -> ZeroShotClassifier:
    """A random-init tiny CLIP classifier, deterministic from ``seed`` (built once, copied per call)."""
    model_spec = ModelSpec(source="open_clip", name=name, **spec).model_dump_json()
    model = copy.deepcopy(_build(name, seed, tuple(classes or CLASSES), model_spec))
    torch.manual_seed(seed)  # the same random state after a cache hit as after a build
    return model


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread; two threads on a shared 2-core box can be 50x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def images() -> tuple[torch.Tensor, torch.Tensor]:
    """Six random 32x32 RGB images in [0,1] and labels over the three classes."""
    g = torch.Generator().manual_seed(0)
    return torch.rand(6, 3, 32, 32, generator=g), torch.tensor([0, 1, 2, 0, 1, 2])


@pytest.fixture
def make_clip():
    """The `tiny_clip` factory, as a fixture (test modules do not import conftest)."""
    return tiny_clip


@pytest.fixture
def lora() -> LoRAConfig:
    """A small LoRA configuration."""
    return LoRAConfig(rank=4, alpha=8, dropout=0.0)
