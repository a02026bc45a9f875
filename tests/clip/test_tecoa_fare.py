"""TeCoA and FARE: single-model robust fine-tuning of CLIP image towers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from compressor.config.schema import AttackConfig
from compressor.errors import UserInputError
from compressor.methods.base import MethodContext, get_method
from compressor.methods.fare import FARE, FAREParams
from compressor.methods.tecoa import TeCoA, TeCoAParams


def ctx(student: nn.Module, params: object, teachers: dict[str, nn.Module] | None = None) -> MethodContext:
    """A context with a 3-step attack at eps 4/255."""
    return MethodContext(
        student=student,
        teachers=teachers or {},
        attack=AttackConfig(eps=4 / 255, alpha=2 / 255, steps=3),
        params=params,
        epochs=1,
        steps_per_epoch=2,
        device=torch.device("cpu"),
    )


def test_tecoa_is_ce_on_zero_shot_logits_of_pgd_examples(make_clip, images):
    student = make_clip()
    method = get_method("tecoa")(ctx(student, TeCoAParams(name="tecoa")))
    assert isinstance(method, TeCoA)
    x, y = images
    x_adv = method.adversarial(x, y)
    assert (x_adv - x).abs().max() <= 4 / 255 + 1e-6
    with torch.no_grad():
        assert F.cross_entropy(student(x_adv), y) > F.cross_entropy(student(x), y)
    out = method.loss(x, y, x_adv)
    assert out.loss.item() == pytest.approx(F.cross_entropy(student(x_adv), y).item(), rel=1e-6)


def test_fare_matches_the_frozen_original_embedding(make_clip, images):
    student = make_clip()
    method = FARE(ctx(student, FAREParams(name="fare")))
    x, y = images
    assert method.loss(x, y, x).loss.item() == pytest.approx(0.0, abs=1e-8)
    x_adv = method.adversarial(x, y)
    assert (x_adv - x).abs().max() <= 4 / 255 + 1e-6
    with torch.no_grad():
        original = student(x, output="raw_embedding").clone()
        expected = (student(x_adv, output="raw_embedding") - original).pow(2).sum(1).mean()
    out = method.loss(x, y, x_adv)
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-5) and out.loss.item() > 0
    text = student.text_matrix.clone()
    opt = torch.optim.AdamW(student.parameters(), lr=1e-2)
    opt.zero_grad()
    out.loss.backward()
    opt.step()
    with torch.no_grad():
        assert not torch.allclose(student(x, output="raw_embedding"), original)
        assert torch.allclose(method.original(x, output="raw_embedding"), original, atol=1e-6)  # frozen copy
    assert torch.equal(student.text_matrix, text)


def test_fare_uses_the_clean_teacher_and_refuses_non_clip_models(make_clip):
    student, clean = make_clip(seed=0), make_clip(seed=1)
    assert FARE(ctx(student, FAREParams(name="fare"), {"clean": clean})).original is clean
    with pytest.raises(UserInputError, match="CLIP"):
        FARE(ctx(student, FAREParams(name="fare"), {"clean": nn.Linear(2, 2)}))
    with pytest.raises(UserInputError, match="CLIP"):
        FARE(ctx(nn.Linear(2, 2), FAREParams(name="fare")))
