"""Robustness-aware int8: keep the layers whose quantisation costs robust accuracy in float, worst first.

Post-training quantisation tools gate on clean accuracy (NNCF's accuracy control, for one); a robust model's
value is its accuracy under attack, which int8 rounding can cost while clean accuracy stays put. Here the
gate is worst-case robust accuracy on held-out images (never the verify probes): an image counts as robust
when the model classifies its PGD image (crafted on the PyTorch model) correctly and a Square attack of
`square_queries` against the model itself does not fool it either (Square runs on the fp32 file's
`square_points` most fragile robust points, the same points for every candidate: those a damaged file loses
first; the rest are judged by PGD alone, so Square's cost is bounded whatever the student). PGD images
transfer from the float model, and an int8 model can look more robust to them than it is (measured:
transferred-PGD accuracy above fp32's while Square against the int8 file itself fooled 9% of the points fp32
keeps), so the query attack on the candidate closes that gap. When int8 loses more than `max_drop` of
fp32's, every Conv / Gemm / MatMul is ranked by the PGD accuracy int8 reaches with that one layer in float
(ties: by the mean true-class margin on the PGD images; the ranking only orders layers, so it skips Square).
Layers interact (measured on a ResNet-18: the stem alone in float won back most of the loss, the next seven
added greedily almost nothing), so the float set is not grown one layer at a time: the shortest prefix of
the ranking that meets the gate is found by trying prefixes of 1, 2, 4, ... layers up to `max_float_layers`
(every weighted layer by default) and bisecting between the last failing and the first passing one; then
each layer of that prefix, lowest ranked first, goes back to int8 when the gate still holds without it
(onnxruntime's nodes_to_exclude keeps the rest in float). Cost, only when plain int8 fails the gate: one quantisation (calibrated once, for every
candidate) and PGD score per layer for the ranking, then at most 1 + 2 ceil(log2(cap)) gate decisions for
the prefix and one per kept layer for the pruning (one decision when the top-ranked layer suffices).
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from compressor_edge.backends import create_backend
from compressor_edge.convert import prepare_for_quantization, quantize_int8
from compressor_edge.square import fragile_points, margin, square_attack_linf

WEIGHTED_OPS = ("Conv", "Gemm", "MatMul")


@dataclass(frozen=True)
class HeldOut:
    """Held-out images for the gate: clean, their PGD images (from PyTorch), labels, eps, Square's budget."""

    clean: np.ndarray
    adversarial: np.ndarray
    labels: np.ndarray
    eps: float
    square_queries: int = 200
    square_points: int | None = None  # Square attacks this many of the fp32 file's most fragile robust points


Score = tuple[float, float]  # (worst-case robust accuracy, mean true-class margin)
Progress = Callable[[int, int], None]  # (int8 candidates tried, the most that will be tried)


@dataclass
class _Scorer:
    """Scores ONNX files on the held-out images (onnxruntime CPU): worst-case robust accuracy and mean
    true-class margin on the PGD images. Square attacks, of the points a file keeps robust under PGD, those
    among the first file's (the fp32 reference's) `square_points` most fragile robust points, so every file is
    attacked on the same points; `square_seconds` adds up the time Square took."""

    held_out: HeldOut
    attacked: np.ndarray | None = None
    square_seconds: float = 0.0

    def __call__(self, path: Path, *, square: bool = True) -> Score:
        held_out = self.held_out
        with create_backend("onnxruntime-cpu", path) as backend:
            logits = backend.predict(held_out.adversarial, batch_size=64)
            margins = margin(logits, held_out.labels)
            robust = margins > 0
            if self.attacked is None:
                self.attacked = fragile_points(margins, robust, held_out.square_points)
            targets = self.attacked[robust[self.attacked]]
            if square and held_out.square_queries > 0 and targets.size:
                start = time.perf_counter()
                attack = square_attack_linf(
                    lambda x: backend.predict(x, batch_size=64),
                    held_out.clean[targets],
                    held_out.labels[targets],
                    eps=held_out.eps,
                    n_queries=held_out.square_queries,
                    seed=0,
                )
                self.square_seconds += time.perf_counter() - start
                robust[targets] = attack.robust
        return float(robust.mean()), float(margins.mean())


def search_float_nodes(
    candidates: Sequence[str],
    evaluate: Callable[[Sequence[str]], Score],
    passes: Callable[[float], bool],
    max_float_layers: int | None = None,
    on_evaluation: Progress | None = None,
    rank: Callable[[Sequence[str]], Score] | None = None,
) -> dict[str, Any]:
    """The float set: rank `candidates` one at a time, find the shortest passing ranked prefix (prefixes of
    1, 2, 4, ... layers, then bisection), then prune.

    `evaluate(nodes)` scores the int8 model with `nodes` in float (each distinct set is evaluated once);
    `rank(nodes)`, when given, scores the one-layer sets of the ranking instead (a cheaper score: it only
    orders the layers, every gate decision is `evaluate`'s); `passes(robust_acc)` is the gate;
    `on_evaluation(done, bound)` hears after each evaluation. Returns the ranking, the kept nodes, their
    robust accuracy, whether the gate is met, the trace of the prefix and pruning trials, and the number
    of evaluations.
    """
    cache: dict[frozenset[str], Score] = {}
    rank_cache = cache if rank is None else {}
    trace: list[dict[str, Any]] = []
    cap = len(candidates) if max_float_layers is None else max(0, min(max_float_layers, len(candidates)))
    bound = len(candidates) + 1 + 2 * math.ceil(math.log2(max(cap, 1))) + cap

    def evaluations() -> int:
        return len(cache) if rank_cache is cache else len(cache) + len(rank_cache)

    def cached(nodes: Sequence[str], scores: dict[frozenset[str], Score], fn: Callable[..., Score]) -> Score:
        key = frozenset(nodes)
        if key not in scores:
            scores[key] = fn(list(nodes))
            if on_evaluation is not None:
                on_evaluation(evaluations(), bound)
        return scores[key]

    def score(nodes: Sequence[str]) -> Score:
        return cached(nodes, cache, evaluate)

    def ranking_score(node: str) -> Score:
        return cached([node], rank_cache, rank or evaluate)

    def trial(step: str, nodes: Sequence[str]) -> bool:
        acc = score(nodes)[0]
        trace.append({"step": step, "float_nodes": list(nodes), "robust_acc": acc, "gate_met": passes(acc)})
        return passes(acc)

    ranked = sorted(candidates, key=lambda n: (-ranking_score(n)[0], -ranking_score(n)[1]))
    length, met = _shortest_passing_prefix(ranked, cap, trial)
    kept = _pruned(ranked[:length], trial) if met else ranked[:length]
    return {
        "ranking": [{"node": n, "robust_acc_with_it_in_float": ranking_score(n)[0]} for n in ranked],
        "float_nodes": kept,
        "robust_acc": score(kept)[0] if kept else None,
        "gate_met": bool(met),
        "trace": trace,
        "evaluations": evaluations(),
        "max_float_layers": cap,
        "max_evaluations": bound,
    }


Trial = Callable[[str, Sequence[str]], bool]  # trial(step, float nodes): whether the gate holds


def _shortest_passing_prefix(ranked: Sequence[str], cap: int, trial: Trial) -> tuple[int, bool]:
    """The length of the shortest passing prefix of `ranked` (1, 2, 4, ... layers up to `cap`, then
    bisection; the empty prefix fails: plain int8 did), and whether one passed at all."""
    low, high, met = 0, 0, False  # the prefix of `low` layers fails; `high` passes when met
    while not met and low < cap:  # gallop: the top few layers usually suffice
        high = min(max(1, 2 * low), cap)
        met = trial("prefix", ranked[:high])
        low = low if met else high
    while met and high - low > 1:
        mid = (low + high) // 2
        if trial("prefix", ranked[:mid]):
            high = mid
        else:
            low = mid
    return high, met


def _pruned(kept: Sequence[str], trial: Trial) -> list[str]:
    """`kept` with each layer, the lowest-ranked first, returned to int8 where the gate holds without it."""
    result = list(kept)
    for name in reversed(kept):
        without = [n for n in result if n != name]
        if without and trial("prune", without):
            result = without
    return result


def _search_float_layers(
    prepared: Path,
    quantize: Callable[[Sequence[str], Path], Any],
    score: _Scorer,
    *,
    passes: Callable[[float], bool],
    max_float_layers: int | None,
    on_candidate: Progress | None,
) -> dict[str, Any]:
    """search_float_nodes over the weighted layers of `prepared`, with its wall time and how it searched.

    `quantize(excluded, path)` writes the candidate that keeps `excluded` in float; it is scored there, the
    one-layer candidates of the ranking on the PGD images alone (Square's verdicts are for the gate)."""
    graph = onnx.load(str(prepared), load_external_data=False).graph
    candidates = [n.name for n in graph.node if n.op_type in WEIGHTED_OPS]

    trial = prepared.with_name("trial.onnx")

    def evaluate(excluded: Sequence[str], square: bool = True) -> Score:
        quantize(excluded, trial)
        return score(trial, square=square)

    start = time.perf_counter()
    found = search_float_nodes(
        candidates,
        evaluate,
        passes,
        max_float_layers,
        None if on_candidate is None else lambda done, bound: on_candidate(1 + done, 1 + bound),
        rank=lambda excluded: evaluate(excluded, square=False),
    )
    found["search_seconds"] = round(time.perf_counter() - start, 1)
    found["search"] = (
        "rank layers one at a time (PGD accuracy, then margin, with that layer alone in float), find the "
        "shortest passing prefix of the ranking (1, 2, 4, ... layers, then bisection), then return each kept "
        "layer to int8 where the gate holds without it (every gate decision with Square)"
    )
    return found


def _gate_record(
    held_out: HeldOut, score: _Scorer, max_drop: float, reference: float, plain: float
) -> dict[str, Any]:
    """What the robustness gate measured before any search: the images, attacks, fp32 and plain int8 scores."""
    return {
        "held_out_images": int(len(held_out.labels)),
        "attacks": f"PGD-20 from PyTorch, then Square ({held_out.square_queries} queries) on the file",
        "square_points": None if score.attacked is None else int(score.attacked.size),
        "max_drop": max_drop,
        "fp32_robust_acc": reference,
        "plain_int8_robust_acc": plain,
        "ranking": [],
        "float_nodes": [],
    }


def robust_int8(
    fp32: Path,
    dst: Path,
    calibration_images: np.ndarray,
    held_out: HeldOut,
    *,
    max_drop: float,
    max_float_layers: int | None = None,
    quantize_options: dict[str, Any] | None = None,
    on_candidate: Progress | None = None,
) -> dict[str, Any]:
    """Write the CPU int8 file to `dst`, keeping layers in float while robust accuracy drops > `max_drop`.

    Returns quantize_int8's settings plus a `robustness_aware` record: the fp32 and int8 robust accuracies
    and, when a search was needed, search_float_nodes's record (ranking, float nodes, trace, evaluations) with
    its wall time. `max_float_layers` (None: every weighted layer) caps the float set. `on_candidate(tried,
    bound)` hears after each int8 candidate scored: plain int8 first, then the search's.
    """
    options = dict(quantize_options or {})
    with tempfile.TemporaryDirectory(prefix="compressor-robust-int8-") as tmp:
        prepared = prepare_for_quantization(fp32, Path(tmp) / "prepared.onnx")

        def quantize(excluded: Sequence[str], path: Path) -> dict[str, Any]:
            return quantize_int8(
                prepared,
                path,
                calibration_images,
                nodes_to_exclude=excluded,
                preprocess=False,
                calibration_cache=Path(tmp) / "calibration.json",  # calibrated once, for every candidate
                **options,
            )

        score = _Scorer(held_out)
        reference = score(fp32)[0]
        settings = quantize([], dst)
        plain = score(dst)[0]
        if on_candidate is not None:
            on_candidate(1, 1)
        record = _gate_record(held_out, score, max_drop, reference, plain)
        if reference - plain <= max_drop:
            record["square_seconds"] = round(score.square_seconds, 1)
            return {**settings, "robustness_aware": {**record, "robust_acc": plain, "gate_met": True}}
        found = _search_float_layers(
            prepared,
            quantize,
            score,
            passes=lambda acc: reference - acc <= max_drop,
            max_float_layers=max_float_layers,
            on_candidate=on_candidate,
        )
        settings = quantize(found["float_nodes"], dst)
        if found["robust_acc"] is None:
            found["robust_acc"] = plain
        record.update(found, square_seconds=round(score.square_seconds, 1))
        return {**settings, "robustness_aware": record}
