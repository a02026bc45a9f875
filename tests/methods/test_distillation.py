"""KD, ARD, RSLAD and AdaAD: each loss pinned to its formula, written out independently."""

from __future__ import annotations

import math

import torch

from compressor.methods.adaad import AdaAD, AdaADParams
from compressor.methods.ard import ARD, ARDParams
from compressor.methods.kd import KD, KDParams
from compressor.methods.rslad import RSLAD, RSLADParams


def _outputs(model, *inputs):
    with torch.no_grad():
        return [model(t) for t in inputs]


def test_kd_loss(batch, ctx_factory, ref):
    x, y = batch
    ctx = ctx_factory(KDParams(name="kd", tau=4.0, alpha=0.9), teachers=("clean",))
    ctx.student.eval()
    out = KD(ctx).loss(x, y, None)
    (s,), (t,) = _outputs(ctx.student, x), _outputs(ctx.teachers["clean"], x)
    kl = ref.kl(s, ref.softmax(t, 4.0), 4.0).sum(dim=1).mean().item()
    assert math.isclose(out.loss.item(), 0.1 * ref.ce(s, y) + 0.9 * 16 * kl, rel_tol=1e-5)


def test_ard_loss_uses_teacher_on_clean_input_and_mean_kl(batch, ctx_factory, ref):
    x, y = batch
    ctx = ctx_factory(ARDParams(name="ard", tau=30.0, alpha=0.75), teachers=("robust",))
    method = ARD(ctx)
    ctx.student.eval()
    x_adv = method.adversarial(x, y)
    assert not ctx.student.training, "the attack restores the student's mode"
    out = method.loss(x, y, x_adv)
    s_adv, s_nat = _outputs(ctx.student, x_adv, x)
    (t,) = _outputs(ctx.teachers["robust"], x)
    kl = ref.kl(s_adv, ref.softmax(t, 30.0), 30.0).mean().item()
    expected = 0.75 * 900 * kl + 0.25 * ref.ce(s_nat, y)
    assert math.isclose(out.loss.item(), expected, rel_tol=1e-5)


def test_ard_attack_runs_the_student_in_train_mode(batch, ctx_factory):
    x, y = batch
    ctx = ctx_factory(ARDParams(name="ard"), teachers=("robust",))
    ctx.student.eval()
    bn = ctx.student[1]
    before = bn.running_mean.clone()
    ARD(ctx).adversarial(x, y)
    assert not torch.equal(before, bn.running_mean), "train-mode attack moves BatchNorm statistics"


def test_rslad_loss_uses_robust_soft_labels_on_clean_input(batch, ctx_factory, ref):
    x, y = batch
    ctx = ctx_factory(RSLADParams(name="rslad"), teachers=("robust",))
    method = RSLAD(ctx)
    x_adv = method.adversarial(x, y)
    ctx.student.eval()
    out = method.loss(x, y, x_adv)
    s_adv, s_nat = _outputs(ctx.student, x_adv, x)
    (t,) = _outputs(ctx.teachers["robust"], x)
    q = ref.softmax(t)
    expected = 5 / 6 * ref.kl(s_adv, q).mean().item() + 1 / 6 * ref.kl(s_nat, q).mean().item()
    assert math.isclose(out.loss.item(), expected, rel_tol=1e-5)


def test_adaad_loss_queries_teacher_at_adversarial_point(batch, ctx_factory, ref):
    x, y = batch
    ctx = ctx_factory(AdaADParams(name="adaad", adv_weight=0.8), teachers=("robust",))
    method = AdaAD(ctx)
    x_adv = method.adversarial(x, y)
    ctx.student.eval()
    out = method.loss(x, y, x_adv)
    s_adv, s_nat = _outputs(ctx.student, x_adv, x)
    t_adv, t_nat = _outputs(ctx.teachers["robust"], x_adv, x)
    expected = 0.8 * ref.kl(s_adv, ref.softmax(t_adv)).mean().item()
    expected += 0.2 * ref.kl(s_nat, ref.softmax(t_nat)).mean().item()
    assert math.isclose(out.loss.item(), expected, rel_tol=1e-5)


def test_adaad_attack_increases_its_objective(batch, ctx_factory, ref):
    x, y = batch
    ctx = ctx_factory(AdaADParams(name="adaad"), teachers=("robust",))
    ctx.attack = ctx.attack.model_copy(update={"init": "zero", "steps": 5})
    x_adv = AdaAD(ctx).adversarial(x, y)
    ctx.student.eval()
    s, s_adv = _outputs(ctx.student, x, x_adv)
    t, t_adv = _outputs(ctx.teachers["robust"], x, x_adv)
    assert ref.kl(s_adv, ref.softmax(t_adv)).sum() > ref.kl(s, ref.softmax(t)).sum()
