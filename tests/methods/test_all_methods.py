"""Every method of this folder runs one real training step on tiny models: finite loss and gradients."""

from __future__ import annotations

import pytest
import torch
from pydantic import TypeAdapter

from compressor.config.methods import MethodParams
from compressor.methods.base import TrainingPosition, get_method, method_names

CLASSIFIER_METHODS = [
    "natural",
    "pgd_at",
    "fast_at",
    "trades",
    "kd",
    "ard",
    "rslad",
    "adaad",
    "mtard",
    "b_mtard",
    "ciard",
]


def test_classifier_methods_are_registered():
    assert set(CLASSIFIER_METHODS) <= set(method_names())


@pytest.mark.parametrize("name", CLASSIFIER_METHODS)
def test_one_step_is_finite(name, batch, ctx_factory, step):
    params = TypeAdapter(MethodParams).validate_python({"name": name})
    roles = params.needed_teachers()
    method = get_method(name)(ctx_factory(params, teachers=roles, epochs=2))
    method.start_epoch(1)
    x, y = batch
    out = step(method, x, y, TrainingPosition(epoch=1, step=0, global_step=2, epochs=2, steps_per_epoch=2))
    assert out.loss.dim() == 0 and torch.isfinite(out.loss)
    assert all(torch.isfinite(torch.as_tensor(v)).all() for v in out.logs.values())
