"""The robustness-aware float-layer search, on scripted scores (the real model's search: tests/bundling)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from tiny_bundles import EPS, linear_onnx, probe_set, reference_logits, worst_case

from compressor_edge.robust_int8 import HeldOut, Score, _Scorer, search_float_nodes
from compressor_edge.square import margin

LAYERS = [f"l{i}" for i in range(21)]  # as many weighted layers as cifar_resnet18


def _passes(acc: float) -> bool:
    return 0.79 - acc <= 0.03


class Interacting:
    """l0 alone wins back most of the loss, l20 alone nothing, and only the two together meet the gate."""

    def __init__(self) -> None:
        self.calls: list[frozenset[str]] = []

    def __call__(self, nodes: Sequence[str]) -> Score:
        kept = frozenset(nodes)
        self.calls.append(kept)
        if {"l0", "l20"} <= kept:
            return 0.80, 3.0
        if kept == {"l20"}:
            return 0.57, 0.0
        others = len(kept - {"l0", "l20"})
        return 0.58 + 0.13 * ("l0" in kept) + 0.005 * min(others, 1), -min(int(n[1:]) for n in kept)


def test_interacting_layers_are_found_where_greedy_growth_stops_at_its_cap() -> None:
    evaluate = Interacting()
    found = search_float_nodes(LAYERS, evaluate, _passes)
    ranked = [r["node"] for r in found["ranking"]]
    assert ranked[0] == "l0" and ranked[-1] == "l20"  # adding in rank order reaches l20 only at the end
    assert found["gate_met"] and sorted(found["float_nodes"]) == ["l0", "l20"]
    assert found["robust_acc"] == 0.80
    assert len(evaluate.calls) == len(set(evaluate.calls)) == found["evaluations"]
    assert found["evaluations"] <= found["max_evaluations"] == 21 + 1 + 2 * 5 + 21
    # every single layer dropped from the result fails the gate: no layer is kept in float for nothing
    for name in found["float_nodes"]:
        assert not _passes(evaluate([n for n in found["float_nodes"] if n != name])[0])


def test_the_search_stops_at_the_shortest_passing_prefix() -> None:
    def evaluate(nodes: Sequence[str]) -> Score:  # each of l0..l2 in float wins back a third of the loss
        gained = len({"l0", "l1", "l2"} & set(nodes))
        return 0.58 + 0.07 * gained, -sum(int(n[1:]) for n in nodes)

    found = search_float_nodes(LAYERS, evaluate, _passes)
    assert found["float_nodes"] == ["l0", "l1", "l2"] and found["gate_met"]
    prefixes = {len(t["float_nodes"]): t["gate_met"] for t in found["trace"] if t["step"] == "prefix"}
    assert prefixes == {1: False, 2: False, 4: True, 3: True}


def test_a_cap_below_what_the_gate_needs_is_recorded_as_unmet() -> None:
    found = search_float_nodes(LAYERS, Interacting(), _passes, max_float_layers=8)
    ranked = [r["node"] for r in found["ranking"]]
    assert not found["gate_met"] and found["float_nodes"] == ranked[:8]
    assert found["max_float_layers"] == 8 and found["robust_acc"] < 0.76


def test_each_candidate_is_reported_against_the_bound() -> None:
    heard: list[tuple[int, int]] = []
    found = search_float_nodes(LAYERS, Interacting(), _passes, on_evaluation=lambda *a: heard.append(a))
    assert [done for done, _ in heard] == list(range(1, found["evaluations"] + 1))
    assert {bound for _, bound in heard} == {found["max_evaluations"]}


def test_square_attacks_the_fp32_files_most_fragile_points_for_every_candidate(tmp_path: Path) -> None:
    """The gate's Square cost is bounded by `square_points` whatever the student: it attacks the reference
    file's robust held-out points nearest to failing, and the same points on every later file."""
    path = tmp_path / "model.onnx"
    onnx.save(linear_onnx(), path)
    x, y = probe_set(64)
    adversarial = worst_case(x, y, EPS / 4)
    margins = margin(reference_logits(adversarial), y)
    robust = np.flatnonzero(margins > 0)
    assert robust.size > 5, "the fixture must leave more robust points than Square attacks"
    score = _Scorer(HeldOut(x, adversarial, y, EPS, square_queries=20, square_points=5))
    accuracy, _ = score(path)
    assert score.attacked is not None
    assert score.attacked.tolist() == robust[np.argsort(margins[robust], kind="stable")][:5].tolist()
    first = score.attacked.copy()
    assert score(path)[0] == accuracy and (score.attacked == first).all() and score.square_seconds > 0
    every = _Scorer(HeldOut(x, adversarial, y, EPS, square_queries=20))
    every(path)
    assert every.attacked is not None and sorted(every.attacked.tolist()) == robust.tolist()


def test_a_cheaper_ranking_orders_the_layers_and_only_the_gate_decides() -> None:
    gate_calls: list[frozenset[str]] = []

    def rank(nodes: Sequence[str]) -> Score:  # the cheap score puts l7 first
        return (0.9 if list(nodes) == ["l7"] else 0.1), 0.0

    def evaluate(nodes: Sequence[str]) -> Score:
        gate_calls.append(frozenset(nodes))
        return (0.80 if "l7" in nodes else 0.50), 0.0

    found = search_float_nodes(LAYERS, evaluate, _passes, rank=rank)
    assert found["ranking"][0] == {"node": "l7", "robust_acc_with_it_in_float": 0.9}
    assert found["float_nodes"] == ["l7"] and found["gate_met"]
    assert all(len(nodes) > 1 or nodes == {"l7"} for nodes in gate_calls), "no ranking call reached the gate"
    assert found["evaluations"] == len(LAYERS) + len(set(gate_calls))
