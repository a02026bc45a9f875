"""Our attacks against an independent implementation (torchattacks) on the same model and points.

The oracle is built from torchattacks' APGD, APGDT, FAB and Square classes with the reference AutoAttack
parameters set explicitly (its ``AutoAttack`` wrapper defaults to 10 iterations and a rescaled Square
schedule, which is not the reference protocol). Where the fast tests cut a budget, both sides get the
same cut. Ours must never leave more points robust than the oracle, beyond a small tolerance.
"""

from __future__ import annotations

import os

import pytest
import torch

from compressor.attacks import get_attack
from compressor.attacks.base import predict
from compressor.attacks.fab_projection import project_onto_hyperplane_box

torchattacks = pytest.importorskip("torchattacks")
from torchattacks.attacks.fab import projection_l2, projection_linf  # noqa: E402

slow = pytest.mark.skipif(not os.environ.get("RUN_SLOW"), reason="slow: set RUN_SLOW=1 to run")
EPS = {"linf": 0.1, "l2": 0.5}
TA_NORM = {"linf": "Linf", "l2": "L2"}
TOLERANCE = 2  # points out of 64


def oracle(name: str, model, norm: str, *, n_iter: int = 100, n_queries: int = 5000, n_classes: int = 10):
    """torchattacks with the reference AutoAttack parameters (budgets as given)."""
    eps, ta_norm = EPS[norm], TA_NORM[norm]
    if name == "apgd-ce":
        return torchattacks.APGD(
            model, norm=ta_norm, eps=eps, steps=n_iter, n_restarts=1, loss="ce", rho=0.75, seed=0
        )
    if name == "apgd-t":
        return torchattacks.APGDT(
            model, norm=ta_norm, eps=eps, steps=n_iter, n_restarts=1, n_classes=n_classes, seed=0
        )
    if name == "fab-t":
        return torchattacks.FAB(
            model,
            norm=ta_norm,
            eps=eps,
            steps=n_iter,
            n_restarts=1,
            multi_targeted=True,
            n_classes=n_classes,
            seed=0,
        )
    return torchattacks.Square(
        model,
        norm=ta_norm,
        eps=eps,
        n_queries=n_queries,
        n_restarts=1,
        p_init=0.8,
        loss="margin",
        resc_schedule=False,
        seed=0,
    )


def _ours(name: str, model, x, y, norm: str, n_iter: int, n_queries: int):
    budget = {"n_queries": n_queries} if name == "square" else {"n_iter": n_iter}
    return get_attack(name)(model, x, y, eps=EPS[norm], norm=norm, **budget)


def _compare(name, norm, digits, n_iter, n_queries):
    model, x, y = digits
    ours = _ours(name, model, x, y, norm, n_iter, n_queries)
    theirs = oracle(name, model, norm, n_iter=n_iter, n_queries=n_queries)(x, y)
    ours_robust = int((predict(model, ours.x_adv) == y).sum())
    oracle_robust = int((predict(model, theirs) == y).sum())
    assert ours_robust <= oracle_robust + TOLERANCE, (
        f"{name}/{norm}: ours {ours_robust} robust, oracle {oracle_robust}"
    )
    print(f"{name}/{norm}: ours {ours_robust} oracle {oracle_robust} of {len(y)}")
    return ours_robust, oracle_robust


@pytest.mark.parametrize(
    ("name", "norm", "n_iter", "n_queries"),
    [
        ("apgd-ce", "linf", 100, 0),
        ("apgd-ce", "l2", 100, 0),
        ("apgd-t", "linf", 20, 0),
        ("fab-t", "linf", 20, 0),
        ("fab-t", "l2", 20, 0),
        ("square", "linf", 0, 1000),
        ("square", "l2", 0, 1000),
    ],
)
def test_not_weaker_than_torchattacks(name, norm, n_iter, n_queries, digits):
    _compare(name, norm, digits, n_iter, n_queries)


@slow
@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "norm"), [(n, "linf") for n in ("apgd-ce", "apgd-t", "fab-t", "square")] + [("apgd-t", "l2")]
)
def test_not_weaker_than_torchattacks_reference_budget(name, norm, digits):
    _compare(name, norm, digits, 100, 5000)


def test_autoattack_not_weaker_than_the_oracle_cascade(digits, cheap_autoattack):
    """Our cascade against torchattacks' four attacks chained on the survivors (same reduced budgets)."""
    model, x, y = digits
    ours = get_attack("autoattack")(model, x, y, eps=0.1)
    robust = predict(model, x) == y
    stages = [
        torchattacks.APGD(model, eps=0.1, steps=20, n_restarts=1, loss="ce", seed=0),
        torchattacks.APGDT(model, eps=0.1, steps=10, n_restarts=1, n_classes=4, seed=0),
        torchattacks.FAB(model, eps=0.1, steps=10, n_restarts=1, multi_targeted=True, n_classes=4, seed=0),
        torchattacks.Square(model, eps=0.1, n_queries=100, p_init=0.8, resc_schedule=False, seed=0),
    ]
    for attack in stages:
        index = robust.nonzero().squeeze(1)
        robust[index[predict(model, attack(x[index], y[index])) != y[index]]] = False
    assert int(ours.robust.sum()) <= int(robust.sum()) + TOLERANCE


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_fab_projection_matches_the_reference_projection(norm):
    gen = torch.Generator().manual_seed(0)
    t = torch.rand(64, 30, generator=gen)
    w = torch.randn(64, 30, generator=gen) * (torch.rand(64, 30, generator=gen) > 0.2)
    b = (w * torch.rand(64, 30, generator=gen)).sum(1)  # a plane through a point of the box: feasible
    ours = project_onto_hyperplane_box(t, w, b, norm)
    ref = (projection_linf if norm == "linf" else projection_l2)(t.clone(), w.clone(), b.clone())
    assert torch.allclose((w * (t + ours)).sum(1), b, atol=1e-4), "not on the plane"
    assert float((t + ours).min()) >= -1e-6 and float((t + ours).max()) <= 1 + 1e-6
    p = float("inf") if norm == "linf" else 2.0
    assert (ours.norm(p=p, dim=1) <= ref.norm(p=p, dim=1) + 1e-5).all(), "longer than the reference's step"
    if norm == "l2":  # the L2 projection is unique
        assert torch.allclose(ours, ref, atol=1e-4)
