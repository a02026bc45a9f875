"""CIARD: push selection / sign / scale / cap, teacher retraining after warm-up only, state round trip."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from compressor.methods.base import TrainingPosition
from compressor.methods.ciard import CIARD, CIARDParams, push_term, teacher_lr

Y = torch.tensor([0, 1, 2, 0])
T_NAT_ADV = torch.tensor([[3.0, 0.0, 0.0], [2.0, 0.0, 1.0], [0.0, 0.5, 0.0], [0.0, 0.0, 2.0]])
S_ADV = torch.tensor([[1.0, -1.0, 0.5], [0.0, 2.0, -2.0], [3.0, 1.0, 0.0], [-1.0, 0.0, 1.0]])


def _params(**kw) -> CIARDParams:
    return CIARDParams(name="ciard", **kw)


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def _identical(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def test_push_selects_samples_the_clean_teacher_gets_wrong(ref):
    push, count = push_term(S_ADV, T_NAT_ADV, Y, temperature=5.0)
    wrong = [1, 2, 3]  # argmax row 1 is 0 != 1, row 2 is 1 != 2, row 3 is 2 != 0
    expected = ref.kl(S_ADV[wrong], ref.softmax(T_NAT_ADV[wrong]), 5.0).mean().item()
    assert count.item() == 3 and math.isclose(push.item(), expected, rel_tol=1e-6)


def test_push_is_zero_without_selected_or_finite_samples():
    push, count = push_term(S_ADV, T_NAT_ADV, T_NAT_ADV.argmax(dim=1), 5.0)
    assert count.item() == 0 and push.item() == 0.0
    bad = S_ADV.clone()
    bad[1, 0] = float("nan")
    assert push_term(bad, T_NAT_ADV, Y, 5.0)[0].item() == 0.0


@pytest.mark.parametrize(
    ("kl_adv", "kl_nat", "expected"), [(0.03, 0.5, 1.0), (0.5, 0.5, 10.0), (3e-4, 5.0, 0.01)]
)
def test_auto_lambda_matches_orders_of_magnitude(kl_adv, kl_nat, expected, ctx_factory):
    method = CIARD(ctx_factory(_params(push_cap=None), teachers=("robust", "clean")))
    push, _ = push_term(S_ADV, T_NAT_ADV, Y, 5.0)  # about 0.0x: magnitude -2
    assert math.floor(math.log10(push.item())) == -2
    term, logs = method.extra_terms(Y, S_ADV, T_NAT_ADV, torch.tensor(kl_adv), torch.tensor(kl_nat))
    assert logs["push_lambda"].item() == pytest.approx(expected)
    assert term.item() == pytest.approx(-expected * push.item()), "the push is subtracted"


def test_push_cap_clips_value_and_gradient(ctx_factory):
    method = CIARD(ctx_factory(_params(push_scale=2.0, push_cap=1e-3), teachers=("robust", "clean")))
    s_adv = S_ADV.clone().requires_grad_(True)
    term, logs = method.extra_terms(Y, s_adv, T_NAT_ADV, torch.tensor(1.0), torch.tensor(1.0))
    assert logs["push_capped"].item() and term.item() == pytest.approx(-2e-3)
    term.backward()
    assert torch.count_nonzero(s_adv.grad) == 0


def test_loss_is_kl_sum_minus_lambda_push(batch, ctx_factory, ref):
    x, y = batch
    ctx = ctx_factory(_params(push_scale=0.5, push_cap=None), teachers=("robust", "clean"))
    method = CIARD(ctx)
    x_adv = method.adversarial(x, y)
    ctx.student.eval()
    out = method.loss(x, y, x_adv)
    with torch.no_grad():
        s_adv, s_nat = ctx.student(x_adv), ctx.student(x)
        t_rob_adv = ctx.teachers["robust"](x_adv)
        t_nat, t_nat_adv = ctx.teachers["clean"](x), ctx.teachers["clean"](x_adv)
    wrong = t_nat_adv.argmax(dim=1) != y
    push = ref.kl(s_adv[wrong], ref.softmax(t_nat_adv[wrong]), 5.0).mean().item() if wrong.any() else 0.0
    expected = ref.kl(s_adv, ref.softmax(t_rob_adv)).mean() + ref.kl(s_nat, ref.softmax(t_nat)).mean()
    assert out.logs["push_selected"].item() == wrong.sum().item()
    assert math.isclose(out.loss.item(), expected.item() - 0.5 * push, rel_tol=1e-4, abs_tol=1e-7)


def test_teacher_lr_schedule():
    assert teacher_lr(1e-4, 1, warmup_epochs=2, epochs=6) == 0.0
    t = 1 / 4  # epoch 2 (0-based) is the first after the warm-up: 1-based 3, (3 - 2) / (6 - 2)
    expected = 1e-4 * (0.5 + 0.5 * math.cos(math.pi * t)) * math.exp(-0.01 * t**2)
    assert teacher_lr(1e-4, 2, 2, 6) == pytest.approx(expected)
    assert teacher_lr(1e-4, 5, 2, 6) == pytest.approx(0.0, abs=1e-20)


def _run(method: CIARD, batch, epochs: int, steps: int, step) -> list[dict[str, torch.Tensor]]:
    """Train the first `epochs` x `steps`; return the robust teacher's state after each epoch."""
    x, y = batch
    states = []
    for epoch in range(epochs):
        method.start_epoch(epoch)
        for s in range(steps):
            step(method, x, y, TrainingPosition(epoch, s, epoch * steps + s, method.ctx.epochs, steps))
        states.append(_state(method.robust))
    return states


@pytest.mark.parametrize("quirk", [False, True])
def test_robust_teacher_changes_only_after_warmup_clean_teacher_never(quirk, batch, ctx_factory, step):
    params = _params(quirk_teacher_train_mode=quirk, teacher_retrain={"warmup_fraction": 0.5, "lr": 0.1})
    ctx = ctx_factory(params, teachers=("robust", "clean"), epochs=4)
    method = CIARD(ctx)
    robust0, clean0 = _state(ctx.teachers["robust"]), _state(ctx.teachers["clean"])
    states = _run(method, batch, epochs=3, steps=2, step=step)
    weights = [k for k in robust0 if "running" not in k and "num_batches" not in k]
    for epoch in (0, 1):  # warm-up: 2 of 4 epochs
        assert all(torch.equal(robust0[k], states[epoch][k]) for k in weights)
        assert _identical(robust0, states[epoch]) is not quirk, "only the quirk moves BN statistics"
    assert not all(torch.equal(robust0[k], states[2][k]) for k in weights), "retrained after warm-up"
    assert _identical(clean0, _state(ctx.teachers["clean"]))
    assert method.trained_teachers() == {"robust": ctx.teachers["robust"]}
    assert not ctx.teachers["robust"].training and not ctx.teachers["clean"].training


def test_frozen_batchnorm_option_keeps_teacher_statistics(batch, ctx_factory, step):
    params = _params(teacher_retrain={"warmup_fraction": 0.0, "batchnorm": "frozen", "lr": 0.1})
    ctx = ctx_factory(params, teachers=("robust", "clean"), epochs=2)
    before = _state(ctx.teachers["robust"])
    after = _run(CIARD(ctx), batch, epochs=1, steps=2, step=step)[0]
    assert torch.equal(before["1.running_mean"], after["1.running_mean"])
    assert not torch.equal(before["5.weight"], after["5.weight"])


def test_state_dict_round_trip_resumes_exactly(batch, ctx_factory, step):
    params = _params(weights="adaptive", tau_adv=3.0, teacher_retrain={"warmup_fraction": 0.0})
    ctx = ctx_factory(params, teachers=("robust", "clean"), epochs=2)
    method = CIARD(ctx)
    _run(method, batch, epochs=1, steps=2, step=step)
    twin_ctx = copy.deepcopy(ctx)
    twin = CIARD(twin_ctx)
    twin.load_state_dict(copy.deepcopy(method.state_dict()))
    assert twin.temperatures.adv.item() == method.temperatures.adv.item() != 3.0
    assert twin.teacher_optimizer.state_dict()["state"], "teacher momentum restored"
    x, y = batch
    outs = []
    for m in (method, twin):
        m.start_epoch(1)
        torch.manual_seed(5)
        outs.append(step(m, x, y, TrainingPosition(1, 0, 2, 2, 2)))
    assert outs[0].loss.item() == outs[1].loss.item()
    assert _identical(_state(method.robust), _state(twin.robust))
    assert method.weights.adv.item() == twin.weights.adv.item()
