"""MTARD / B-MTARD: the loss, temperature sign steps and clamps, adaptive weights, lr decay timing."""

from __future__ import annotations

import math

import pytest
import torch

from compressor.methods.common import AdaptiveWeights, DecayingRate, EntropyTemperatures
from compressor.methods.mtard import BMTARD, MTARD, BMTARDParams, MTARDParams

CPU = torch.device("cpu")
SHARP = torch.tensor([[8.0, 0.0, 0.0], [0.0, 8.0, 0.0]])
FLAT = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def test_temperature_softens_the_sharper_teacher_and_clamps():
    temps = EntropyTemperatures(1.0, 2.0, 1.0, 10.0, CPU)
    temps.update(SHARP, FLAT, lr=0.001)  # adv sharper: |H_adv| < |H_nat| -> tau_adv up, tau_nat down
    assert temps.adv.item() == pytest.approx(1.001, abs=1e-12)
    assert temps.nat.item() == pytest.approx(1.999, abs=1e-12)
    temps = EntropyTemperatures(10.0, 1.0, 1.0, 10.0, CPU)
    temps.update(SHARP * 10, FLAT, lr=0.001)  # still sharper at tau 10: pushed up, clamped
    assert (temps.adv.item(), temps.nat.item()) == (10.0, 1.0), "both clamped to [1, 10]"
    temps.update(FLAT, SHARP, lr=0.5)
    assert (temps.adv.item(), temps.nat.item()) == (9.5, 1.5)


def test_temperature_step_uses_the_tempered_entropies():
    temps = EntropyTemperatures(1.0, 1.0, 1.0, 10.0, CPU)
    temps.update(SHARP, SHARP * 0.5, lr=0.1)  # H computed at the current temperatures (both 1)
    assert temps.adv.item() == pytest.approx(1.1) and temps.nat.item() == 1.0


def test_adaptive_weights_follow_the_normalised_loss_ratios():
    w = AdaptiveWeights(CPU)
    w.update(torch.tensor(2.0), torch.tensor(1.0), lr=0.025)  # first step sets the reference losses
    assert (w.adv.item(), w.nat.item()) == (0.5, 0.5)
    w.update(torch.tensor(1.0), torch.tensor(1.0), lr=0.025)  # relative 0.5, 1 -> targets 1/3, 2/3
    adv, nat = 0.5 - 0.025 * (0.5 - 1 / 3), 0.5 - 0.025 * (0.5 - 2 / 3)
    assert w.adv.item() == pytest.approx(adv / (adv + nat), abs=1e-12)
    assert w.nat.item() == pytest.approx(nat / (adv + nat), abs=1e-12)


def test_rate_decays_once_per_epoch_after_each_milestone():
    rate = DecayingRate(1e-3, [0.5, 0.75], 0.1, epochs=4, every_step=False)
    values = []
    for epoch in range(4):
        rate.start_epoch(epoch)
        for _ in range(3):
            rate.after_step(epoch)
        values.append(rate.value)
    assert values == pytest.approx([1e-3, 1e-3, 1e-4, 1e-5])


def test_rate_decay_quirk_fires_every_step_of_the_milestone_epochs():
    rate = DecayingRate(1e-3, [0.5, 0.75], 0.1, epochs=4, every_step=True)
    values = []
    for epoch in range(4):
        rate.start_epoch(epoch)
        for _ in range(3):
            rate.after_step(epoch)  # milestone epochs 2 and 3 (1-based) are epochs 1 and 2 here
        values.append(rate.value)
    assert values == pytest.approx([1e-3, 1e-6, 1e-9, 1e-9])


def test_mtard_loss_is_weighted_kl_sum(batch, ctx_factory, ref):
    x, y = batch
    ctx = ctx_factory(MTARDParams(name="mtard", tau_adv=2.0, tau_nat=3.0), teachers=("robust", "clean"))
    method = MTARD(ctx)
    x_adv = method.adversarial(x, y)
    ctx.student.eval()
    out = method.loss(x, y, x_adv)
    with torch.no_grad():
        s_adv, s_nat = ctx.student(x_adv), ctx.student(x)
        t_adv, t_nat = ctx.teachers["robust"](x_adv), ctx.teachers["clean"](x)
    kl_adv = ref.kl(s_adv, ref.softmax(t_adv, 2.0)).mean().item()
    kl_nat = ref.kl(s_nat, ref.softmax(t_nat, 3.0)).mean().item()
    assert math.isclose(out.loss.item(), 0.5 * kl_adv + 0.5 * kl_nat, rel_tol=1e-4)  # 1/2 each; fp32 KL ~2e-4
    assert out.logs["tau_adv"].item() == 2.0 and method.temperatures.adv.item() == 2.0, "MTARD: fixed"


def test_bmtard_updates_temperatures_and_fixed_weights_are_one_to_one(batch, ctx_factory, ref):
    x, y = batch
    params = BMTARDParams(name="b_mtard", weights="fixed", tau_lr=0.5)
    ctx = ctx_factory(params, teachers=("robust", "clean"))
    method = BMTARD(ctx)
    method.start_epoch(0)
    x_adv = method.adversarial(x, y)
    ctx.student.eval()
    out = method.loss(x, y, x_adv)
    expected = out.logs["kl_adv"].item() + out.logs["kl_nat"].item()
    assert math.isclose(out.loss.item(), expected, rel_tol=1e-6)
    with torch.no_grad():
        h_adv = (lambda p: (p * p.log()).mean())(ref.softmax(ctx.teachers["robust"](x_adv)))
        h_nat = (lambda p: (p * p.log()).mean())(ref.softmax(ctx.teachers["clean"](x)))
    expected_adv = min(10.0, max(1.0, 1.0 - 0.5 * math.copysign(1, h_adv / h_nat - 1)))
    assert method.temperatures.adv.item() == pytest.approx(expected_adv)


def test_method_decays_tau_and_weight_rates_together(ctx_factory):
    params = BMTARDParams(name="b_mtard", tau_decay_at=[0.5], tau_decay_factor=0.1)
    method = BMTARD(ctx_factory(params, teachers=("robust", "clean"), epochs=4))
    method.start_epoch(1)
    assert (method.tau_lr.value, method.weight_lr.value) == pytest.approx((1e-3, 0.025))
    method.start_epoch(2)
    assert (method.tau_lr.value, method.weight_lr.value) == pytest.approx((1e-4, 0.0025))
