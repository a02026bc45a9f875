"""Fast-AT: one FGSM step of alpha_scale x eps from a uniform start; the guard falls back to PGD on collapse."""

from __future__ import annotations

import torch
from torch import Tensor

from compressor.methods.base import TrainingPosition
from compressor.methods.fast_at import FastAT, FastATParams


def _progress(step: int) -> TrainingPosition:
    return TrainingPosition(epoch=0, step=step, global_step=step, epochs=1, steps_per_epoch=100)


def test_one_step_of_alpha_scale_eps_from_a_random_start(batch, ctx_factory):
    x, y = batch
    ctx = ctx_factory(FastATParams(name="fast_at", alpha_scale=1.25))
    method = FastAT(ctx)
    assert method.fgsm_ctx.attack.steps == 1
    assert method.fgsm_ctx.attack.alpha == 1.25 * ctx.attack.eps
    assert method.fgsm_ctx.attack.init == "uniform"
    assert ctx.attack.steps > 1, "the recipe's attack (the guard's and the fallback's) is left as it was"
    torch.manual_seed(0)
    first = method.adversarial(x, y)
    torch.manual_seed(1)
    second = method.adversarial(x, y)
    eps = ctx.attack.eps
    assert (first - x).abs().max() <= eps + 1e-6 and first.min() >= 0 and first.max() <= 1
    assert not torch.equal(first, second), "a random start differs between draws"


def test_guard_switches_to_pgd_when_pgd_accuracy_on_its_fixed_batch_collapses(
    batch, ctx_factory, monkeypatch
):
    x, y = batch
    method = FastAT(ctx_factory(FastATParams(name="fast_at", guard_every=10, guard_drop=0.2)))
    assert 0.0 <= method.pgd_accuracy(x, y) <= 1.0
    accuracies = iter([0.6, 0.45, 0.35])  # PGD accuracy on the guard batch at steps 10, 20, 30
    measured: list[Tensor] = []
    monkeypatch.setattr(method, "pgd_accuracy", lambda x, y: measured.append(x) or next(accuracies))
    method.after_step(x, y, None, _progress(5))  # not a guard step: nothing measured, the batch is kept
    assert method.last_guard is None
    for step in (10, 20):  # 0.45 is 0.15 below the best: not yet a collapse
        method.after_step(x.flip(0), y.flip(0), None, _progress(step))
        assert not method.fallback
    assert all(torch.equal(seen, x) for seen in measured), "always the first batch, whatever the step's"
    assert method.adversarial(x, y).shape == x.shape
    method.after_step(x, y, None, _progress(30))  # 0.35 < best 0.6 - 0.2: collapse
    assert method.fallback and method.state_dict() == {"fallback": True}
    assert method.loss(x, y, x).logs["pgd_fallback"] == 1.0
    method.after_step(x, y, None, _progress(40))  # after the fallback the guard stops measuring
    assert len(measured) == 3
    restored = FastAT(method.ctx)
    restored.load_state_dict(method.state_dict())
    assert restored.fallback, "a resumed run keeps the fallback decision"


def test_fallback_attacks_with_the_recipe_attack(batch, ctx_factory, monkeypatch):
    x, y = batch
    method = FastAT(ctx_factory(FastATParams(name="fast_at")))
    used = []
    monkeypatch.setattr(
        "compressor.methods.fast_at.run_attack", lambda ctx, objective, x: used.append(ctx.attack.steps) or x
    )
    method.adversarial(x, y)
    method.fallback = True
    method.adversarial(x, y)
    assert used == [1, method.ctx.attack.steps]


def test_the_guard_reading_has_the_same_random_start_every_time(batch, ctx_factory):
    x, y = batch
    method = FastAT(ctx_factory(FastATParams(name="fast_at")))
    torch.manual_seed(0)
    first = method.pgd_accuracy(x, y)
    after = torch.rand(1)
    torch.manual_seed(1)
    assert method.pgd_accuracy(x, y) == first
    torch.manual_seed(0)
    method.pgd_accuracy(x, y)
    assert torch.equal(torch.rand(1), after), "the training's random stream is left as it was"
