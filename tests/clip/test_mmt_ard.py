"""MMT-ARD: the loss against hand-computed values, confidence weights, balancing, attack and training."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from compressor.config.schema import AttackConfig
from compressor.errors import UserInputError
from compressor.methods import mmt_ard
from compressor.methods.base import MethodContext
from compressor.methods.mmt_ard import MMTARD, MMTARDParams, clean_share, confidence

T_ROB = [[40.0, 10.0, 5.0], [3.0, 30.0, 20.0]]
T_NAT = [[35.0, 20.0, 0.0], [10.0, 25.0, 5.0]]
Y = torch.tensor([0, 1])


class FixedTeacher(nn.Module):
    """A 'CLIP teacher' that answers fixed logits (scale 100) whatever the input."""

    def __init__(self, logits: list[list[float]]) -> None:
        super().__init__()
        self.register_buffer("logits", torch.tensor(logits))
        self.logit_scale = 100.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits


class PixelStudent(nn.Module):
    """Logits = 4 x the first three pixels, so S(x) and S(x') are known exactly."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 4 * x.flatten(1)[:, :3]


def ctx(student: nn.Module, robust: nn.Module, clean: nn.Module, **params) -> MethodContext:
    """A method context with a 2-step training attack at eps 2/255."""
    return MethodContext(
        student=student,
        teachers={"robust": robust.eval().requires_grad_(False), "clean": clean.eval().requires_grad_(False)},
        attack=AttackConfig(eps=2 / 255, alpha=1 / 255, steps=2),
        params=MMTARDParams(name="mmt_ard", **params),
        epochs=1,
        steps_per_epoch=4,
        device=torch.device("cpu"),
    )


def hand_kl(student: list[list[float]], teacher: list[list[float]]) -> list[list[float]]:
    """Element-wise q (log q - log p) with explicit exp / log in double precision."""

    def softmax(row: list[float]) -> list[float]:
        z = [math.exp(v - max(row)) for v in row]
        return [v / sum(z) for v in z]

    out = []
    for s_row, t_row in zip(student, teacher, strict=True):
        p, q = softmax(s_row), softmax(t_row)
        out.append([qi * (math.log(qi) - math.log(pi)) for pi, qi in zip(p, q, strict=True)])
    return out


@pytest.mark.parametrize("kind", ["cosine", "softmax", "none"])
def test_loss_matches_the_hand_computed_formula(kind):
    x = torch.tensor([[0.1, 0.5, 0.9], [0.7, 0.2, 0.3]]).view(2, 3, 1, 1)
    x_adv = torch.tensor([[0.2, 0.4, 0.9], [0.6, 0.3, 0.2]]).view(2, 3, 1, 1)
    method = MMTARD(ctx(PixelStudent(), FixedTeacher(T_ROB), FixedTeacher(T_NAT), confidence=kind))
    out = method.loss(x, Y, x_adv)
    s_adv = (4 * x_adv.flatten(1)).tolist()
    s_nat = (4 * x.flatten(1)).tolist()
    kl_adv, kl_nat = hand_kl(s_adv, T_ROB), hand_kl(s_nat, T_NAT)
    weights = {
        "cosine": ([0.40, 0.30], [0.35, 0.25]),  # true-class logit / 100
        "softmax": (
            [1 / (1 + math.exp(-30) + math.exp(-35)), 1 / (1 + math.exp(-27) + math.exp(-10))],
            [1 / (1 + math.exp(-15) + math.exp(-35)), 1 / (1 + math.exp(-15) + math.exp(-20))],
        ),
        "none": ([1.0, 1.0], [1.0, 1.0]),
    }[kind]
    c_rob, c_nat = weights
    expected = (
        sum(50 * c_rob[b] * kl_adv[b][c] + 5 * c_nat[b] * kl_nat[b][c] for b in range(2) for c in range(3))
        / 6
    )
    assert out.loss.item() == pytest.approx(expected, rel=1e-5)
    assert out.logs["c_rob"].item() == pytest.approx(sum(c_rob) / 2, rel=1e-5)


def test_cosine_confidence_is_the_teachers_image_text_cosine(make_clip, images):
    teacher = make_clip(seed=3).eval()
    x, y = images
    with torch.no_grad():
        logits = teacher(x)
        cosine = (teacher.embed(x) * teacher.text_matrix[y]).sum(1)
    assert torch.allclose(
        confidence(logits, y, "cosine", teacher.logit_scale), cosine.clamp_min(0), atol=1e-5
    )
    negative = torch.tensor([[-20.0, 5.0], [10.0, 30.0]])
    assert torch.equal(confidence(negative, torch.tensor([0, 1]), "cosine"), torch.tensor([0.0, 0.3]))
    assert torch.allclose(confidence(logits, y, "softmax"), logits.softmax(1)[torch.arange(6), y])
    assert torch.equal(confidence(logits, y, "none"), torch.ones(6))


def test_sigmoid_balancing_favours_the_lagging_term():
    big, small = torch.tensor(2.0), torch.tensor(1.0)
    assert clean_share(big, small, 5.0) > 0.5 > clean_share(small, big, 5.0)
    assert clean_share(big, big, 5.0) == 0.5
    # clean KL (teacher T_NAT far from S(x)) larger than adversarial KL: clean weight must grow
    x = torch.tensor([[0.9, 0.1, 0.8], [0.1, 0.1, 0.9]]).view(2, 3, 1, 1)
    x_adv = torch.tensor([[0.9, 0.2, 0.1], [0.1, 0.9, 0.5]]).view(2, 3, 1, 1)
    fixed = MMTARD(ctx(PixelStudent(), FixedTeacher(T_ROB), FixedTeacher(T_NAT), confidence="none"))
    logs = fixed.loss(x, Y, x_adv).logs
    assert logs["kl_nat"] > logs["kl_adv"]
    method = MMTARD(
        ctx(PixelStudent(), FixedTeacher(T_ROB), FixedTeacher(T_NAT), confidence="none", balance="sigmoid")
    )
    out = method.loss(x, Y, x_adv)
    share = 0.9 * 0.5 + 0.1 * clean_share(logs["kl_nat"], logs["kl_adv"], 5.0)
    assert out.logs["clean_share"].item() == pytest.approx(share.item()) and share > 0.5
    expected = 50 * 2 * (1 - share) * logs["kl_adv"] + 5 * 2 * share * logs["kl_nat"]
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    restored = MMTARD(method.ctx)
    restored.load_state_dict(method.state_dict())
    assert restored.share.item() == pytest.approx(share.item())


def test_attack_is_momentum_pgd_on_kl_to_the_clean_teacher(make_clip, images, monkeypatch):
    student, robust, clean = make_clip(seed=0), make_clip("compressor-tiny-rn", seed=1), make_clip(seed=2)
    calls = []

    def spy(objective, x, **kwargs):
        calls.append(kwargs)
        expected = F.kl_div(student(x).log_softmax(1), clean(x).softmax(1), reduction="none").sum(1)
        assert torch.allclose(objective(x), expected, atol=1e-5)
        return maximize(objective, x, **kwargs)

    maximize = mmt_ard.maximize
    monkeypatch.setattr(mmt_ard, "maximize", spy)
    x, y = images
    x_adv = MMTARD(ctx(student, robust, clean)).adversarial(x, y)
    assert calls[0]["momentum"] == 0.9 and calls[0]["init"] == "uniform" and calls[0]["steps"] == 2
    assert (x_adv - x).abs().max() <= 2 / 255 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1


def test_cosine_confidence_needs_clip_teachers(make_clip):
    with pytest.raises(UserInputError, match="CLIP teachers"):
        MMTARD(ctx(make_clip(), make_clip(), nn.Linear(2, 3)))


@pytest.mark.parametrize("student_kind", ["full", "lora", "timm"])
def test_training_keeps_text_heads_and_frozen_weights(make_clip, images, lora, student_kind):
    if student_kind == "timm":
        import timm

        from compressor.models.wrapper import Normalized

        torch.manual_seed(0)
        student = Normalized(timm.create_model("test_efficientnet", num_classes=3), [0.5] * 3, [0.25] * 3)
    else:
        student = make_clip(seed=0, lora=lora if student_kind == "lora" else None)
    robust, clean = make_clip("compressor-tiny-rn", seed=1), make_clip(seed=2)
    frozen = {k: v.clone() for k, v in student.state_dict().items() if "lora_" not in k}
    teachers = {k: v.clone() for m in (robust, clean) for k, v in m.state_dict().items()}
    text_tower = (
        None if student_kind == "timm" else {k: v.clone() for k, v in student.text.clip.state_dict().items()}
    )
    method = MMTARD(ctx(student, robust, clean, balance="sigmoid"))
    opt = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=1e-2)
    x, y = images
    losses = []
    for _ in range(3):
        student.train()
        x_adv = method.adversarial(x, y)
        opt.zero_grad()
        out = method.loss(x, y, x_adv)
        out.loss.backward()
        opt.step()
        losses.append(out.loss.item())
    assert all(math.isfinite(v) for v in losses)
    after = student.state_dict()
    changed = [k for k, v in frozen.items() if not torch.equal(after[k], v)]
    if student_kind == "lora":
        assert not changed
        assert any(
            not torch.equal(p, torch.zeros_like(p)) for n, p in student.named_parameters() if "lora_B" in n
        )
    else:
        assert changed
    if text_tower is not None:
        assert torch.equal(after["text_matrix"], frozen["text_matrix"])
        assert all(torch.equal(v, student.text.clip.state_dict()[k]) for k, v in text_tower.items())
    now = {k: v for m in (robust, clean) for k, v in m.state_dict().items()}
    assert all(torch.equal(now[k], v) for k, v in teachers.items())
