"""Natural, PGD-AT and TRADES: losses pinned to explicit formulas, attack stays in the ball."""

from __future__ import annotations

import math

import torch

from compressor.methods.natural import Natural, NaturalParams
from compressor.methods.pgd_at import PGDAT, PGDATParams
from compressor.methods.trades import TRADES, TRADESParams


def test_natural_loss_is_clean_ce(batch, ctx_factory, ref):
    x, y = batch
    method = Natural(ctx_factory(NaturalParams(name="natural")))
    assert method.adversarial(x, y) is None
    out = method.loss(x, y, None)
    with torch.no_grad():
        expected = ref.ce(method.student(x), y)
    assert math.isclose(out.loss.item(), expected, rel_tol=1e-5)


def test_pgd_at_attack_in_ball_and_loss_is_adv_ce(batch, ctx_factory, ref):
    x, y = batch
    ctx = ctx_factory(PGDATParams(name="pgd_at"))
    ctx.student.train()
    method = PGDAT(ctx)
    x_adv = method.adversarial(x, y)
    assert ctx.student.training, "the attack must restore the student's train mode"
    assert (x_adv - x).abs().max() <= 8 / 255 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    assert all(p.grad is None for p in ctx.student.parameters()), "attack must not touch weight grads"
    ctx.student.eval()
    out = method.loss(x, y, x_adv)
    with torch.no_grad():
        expected = ref.ce(ctx.student(x_adv), y)
    assert math.isclose(out.loss.item(), expected, rel_tol=1e-5)


def test_trades_loss_is_ce_plus_beta_kl(batch, ctx_factory, ref):
    x, y = batch
    ctx = ctx_factory(TRADESParams(name="trades", beta=6.0))
    method = TRADES(ctx)
    x_adv = method.adversarial(x, y)
    ctx.student.eval()
    out = method.loss(x, y, x_adv)
    with torch.no_grad():
        nat, adv = ctx.student(x), ctx.student(x_adv)
    expected = ref.ce(nat, y) + 6.0 * ref.kl(adv, ref.softmax(nat)).sum(dim=1).mean().item()
    assert math.isclose(out.loss.item(), expected, rel_tol=1e-5)
    assert out.logs["kl_adv"].item() > 0
