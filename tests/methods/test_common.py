"""Shared helpers: batched teacher forwards, mode restoration, KL conventions."""

from __future__ import annotations

import torch

from compressor.methods.common import kl_batchmean, kl_mean_bc, probs, teacher_logits
from compressor.models.modes import model_mode


def test_batched_teacher_forward_equals_separate_forwards(batch, ctx_factory):
    x, _ = batch
    teacher = ctx_factory(None, teachers=("robust",)).teachers["robust"]
    a, b = teacher_logits(teacher, x, x.flip(0))
    with torch.no_grad():
        torch.testing.assert_close(a, teacher(x), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(b, teacher(x.flip(0)), rtol=1e-5, atol=1e-6)
    assert not a.requires_grad


def test_train_mode_teacher_is_not_concatenated(batch, ctx_factory):
    x, _ = batch
    teacher = ctx_factory(None, teachers=("robust",)).teachers["robust"].train()
    a, b = teacher_logits(teacher, x[:4], x[4:])
    with torch.no_grad():
        torch.testing.assert_close(b, teacher(x[4:]))  # batch statistics of x[4:] alone


def test_model_mode_restores(ctx_factory):
    student = ctx_factory(None).student.train()
    with model_mode(student, False):
        assert not student.training
    assert student.training


def test_kl_conventions(ref):
    s = torch.tensor([[1.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    t = torch.tensor([[0.0, 2.0, 0.0], [1.0, 0.0, 0.0]])
    elementwise = ref.kl(s, ref.softmax(t, 2.0), 2.0)
    assert torch.isclose(kl_mean_bc(s, probs(t, 2.0), 2.0).double(), elementwise.mean())
    assert torch.isclose(kl_batchmean(s, probs(t, 2.0), 2.0).double(), elementwise.sum(1).mean())
