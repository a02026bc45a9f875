"""Every attack, both norms: inside the ball and the box, honest robust masks, reproducible, effective."""

from __future__ import annotations

import pytest
import torch

from compressor.attacks import attack_names, get_attack
from compressor.attacks.base import lp_norm, predict

EPS = {"linf": 0.1, "l2": 1.0}
CASES = [(name, norm) for name in attack_names() for norm in ("linf", "l2")]


def _run(name, norm, digits, fast, seed=0):
    model, x, y = digits
    return get_attack(name)(
        model, x, y, eps=EPS[norm], norm=norm, seed=seed, batch_size=40, **fast.get(name, {})
    )


@pytest.mark.parametrize(("name", "norm"), CASES)
def test_attack_respects_threat_model_and_reports_honestly(name, norm, digits, fast, cheap_autoattack):
    model, x, y = digits
    res = _run(name, norm, digits, fast)
    assert res.x_adv.shape == x.shape and res.x_adv.dtype == x.dtype and res.robust.shape == y.shape
    assert float(lp_norm(res.x_adv - x, norm).max()) <= EPS[norm] * (1 + 1e-5) + 1e-6
    assert float(res.x_adv.min()) >= 0 and float(res.x_adv.max()) <= 1
    correct_adv = predict(model, res.x_adv) == y
    assert not bool((~res.robust & correct_adv).any()), "a point reported fooled is classified right"
    clean = predict(model, x) == y
    assert not bool((res.robust & ~clean).any()), "a misclassified clean point reported robust"
    assert res.robust.sum() < clean.sum() - 5, "the attack fooled (almost) nothing"


@pytest.mark.parametrize("name", ["pgd20", "apgd-ce", "apgd-t", "fab-t", "square"])
def test_same_seed_same_result_other_seed_other_start(name, digits, fast):
    a = _run(name, "linf", digits, fast, seed=1)
    b = _run(name, "linf", digits, fast, seed=1)
    assert torch.equal(a.x_adv, b.x_adv) and torch.equal(a.robust, b.robust)
    if name != "fab-t":  # FAB-T's first run starts at the clean point: no randomness with one restart
        c = _run(name, "linf", digits, fast, seed=2)
        assert not torch.equal(a.x_adv, c.x_adv)


def test_stronger_attacks_are_not_weaker(digits):
    model, x, y = digits
    acc = {n: int(get_attack(n)(model, x, y, eps=0.1).robust.sum()) for n in ("fgsm", "pgd20", "apgd-ce")}
    assert acc["pgd20"] <= acc["fgsm"]
    assert acc["apgd-ce"] <= acc["pgd20"] + 1
    assert int(get_attack("pgd20")(model, x, y, eps=0.5).robust.sum()) == 0


def test_autoattack_cascade_is_worst_case_over_its_stages(digits, fast, cheap_autoattack):
    model, x, y = digits
    res = get_attack("autoattack")(model, x, y, eps=0.1, batch_size=24)
    counts = [int(v.sum()) for v in res.stages.values()]
    assert list(res.stages) == ["clean", "apgd-ce", "apgd-t", "fab-t", "square"]
    assert counts == sorted(counts, reverse=True) and counts[-1] == int(res.robust.sum())
    alone = get_attack("apgd-ce")(model, x, y, eps=0.1, **fast["apgd-ce"])
    assert int(res.robust.sum()) <= int(alone.robust.sum())


def test_batching_does_not_change_a_deterministic_attack(digits):
    model, x, y = digits
    whole = get_attack("fgsm")(model, x, y, eps=0.1)
    parts = get_attack("fgsm")(model, x, y, eps=0.1, batch_size=7)
    assert torch.equal(whole.x_adv, parts.x_adv) and torch.equal(whole.robust, parts.robust)
