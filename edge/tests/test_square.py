"""The numpy Square attack against the linear reference, whose exact worst case is known."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_bundles import EPS, probe_set, reference_logits, worst_case

from compressor_edge.square import margin, p_schedule, square_attack_linf


def test_p_schedule_follows_the_paper_breakpoints() -> None:
    budget = 10000
    assert p_schedule(0.8, 0, budget) == 0.8
    assert p_schedule(0.8, 10, budget) == 0.8
    assert p_schedule(0.8, 11, budget) == 0.4
    assert p_schedule(0.8, 201, budget) == pytest.approx(0.1)
    assert p_schedule(0.8, 9999, budget) == pytest.approx(0.8 / 512)
    assert p_schedule(0.8, 50, 100) == pytest.approx(0.8 / 128)  # 50/100 -> 5000/10000


def test_margin_sign() -> None:
    logits = np.array([[3.0, 1.0, 0.0], [0.0, 2.0, 5.0]])
    assert margin(logits, np.array([0, 1])).tolist() == [2.0, -3.0]


def test_stays_in_the_eps_ball_and_the_box() -> None:
    x, y = probe_set()
    eps = 2 * EPS
    result = square_attack_linf(reference_logits, x, y, eps=eps, n_queries=100, seed=1)
    assert np.abs(result.adversarial - x).max() <= eps + 1e-6
    assert result.adversarial.min() >= 0.0 and result.adversarial.max() <= 1.0
    assert result.queries.max() <= 100
    fooled = ~result.robust
    assert fooled.any()
    assert (reference_logits(result.adversarial[fooled]).argmax(1) != y[fooled]).all()


def test_never_beats_the_exact_worst_case_and_gets_close_with_budget() -> None:
    x, y = probe_set()
    exact = float((reference_logits(worst_case(x, y, EPS)).argmax(1) == y).mean())
    few = square_attack_linf(reference_logits, x, y, eps=EPS, n_queries=20, seed=0).robust_accuracy
    many = square_attack_linf(reference_logits, x, y, eps=EPS, n_queries=2000, seed=0).robust_accuracy
    assert exact <= many <= few
    assert many < 1.0
    assert many - exact <= 0.15


def test_zero_eps_and_huge_eps() -> None:
    x, y = probe_set()
    clean = float((reference_logits(x).argmax(1) == y).mean())
    assert square_attack_linf(reference_logits, x, y, eps=0.0, n_queries=50).robust_accuracy == clean
    assert square_attack_linf(reference_logits, x, y, eps=0.5, n_queries=200).robust_accuracy == 0.0


def test_misclassified_points_use_no_queries_and_seed_is_deterministic() -> None:
    x, y = probe_set(16)
    wrong = (y + 1) % 4
    result = square_attack_linf(reference_logits, x, wrong, eps=EPS, n_queries=30)
    assert result.robust_accuracy == 0.0 and result.queries.sum() == 0
    a = square_attack_linf(reference_logits, x, y, eps=EPS, n_queries=30, seed=3)
    b = square_attack_linf(reference_logits, x, y, eps=EPS, n_queries=30, seed=3)
    assert np.array_equal(a.adversarial, b.adversarial)
