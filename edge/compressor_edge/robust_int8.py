"""Robustness-aware int8: keep the layers whose quantisation costs robust accuracy in float, worst first.

Post-training quantisation tools gate on clean accuracy (NNCF's accuracy control, for one); a robust model's
value is its accuracy under attack, which int8 rounding can cost while clean accuracy stays put. Here the
gate is worst-case robust accuracy on held-out images (never the verify probes): an image counts as robust
when the model classifies its PGD image (crafted on the PyTorch model) correctly and a Square attack of
`square_queries` against the model itself does not fool it either. PGD images transfer from the float model,
and an int8 model can look more robust to them than it is (measured: transferred-PGD accuracy above fp32's
while Square against the int8 file itself fooled 9% of the points fp32 keeps), so the query attack on the
candidate closes that gap. When int8 loses more than `max_drop` of fp32's, every Conv / Gemm / MatMul is
ranked by the robust accuracy int8 reaches with that one layer in float (ties: by the mean true-class
margin on the PGD images). Layers interact (measured on a ResNet-18: the stem alone in float won back most
of the loss, the next seven added greedily almost nothing), so the float set is not grown one layer at a
time: bisection finds the shortest prefix of the ranking that meets the gate (the whole ranking, i.e. every
weighted layer in float, is tried first; `max_float_layers` caps it), then each layer of that prefix, lowest
ranked first, goes back to int8 when the gate still holds without it (onnxruntime's nodes_to_exclude keeps
the rest in float). Cost, only when plain int8 fails the gate: one quantisation and score per layer for the
ranking, at most 1 + ceil(log2(cap)) for the bisection and one per kept layer for the pruning.
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
from compressor_edge.square import margin, square_attack_linf

WEIGHTED_OPS = ("Conv", "Gemm", "MatMul")


def _score(path: Path, held_out: HeldOut) -> tuple[float, float]:
    """(worst-case robust accuracy, mean true-class margin on the PGD images) of an ONNX file, onnxruntime CPU."""
    with create_backend("onnxruntime-cpu", path) as backend:
        logits = backend.predict(held_out.adversarial, batch_size=64)
        robust = logits.argmax(1) == held_out.labels
        if held_out.square_queries > 0 and robust.any():
            square = square_attack_linf(
                lambda x: backend.predict(x, batch_size=64),
                held_out.clean[robust],
                held_out.labels[robust],
                eps=held_out.eps,
                n_queries=held_out.square_queries,
                seed=0,
            )
            robust[np.flatnonzero(robust)] = square.robust
    return float(robust.mean()), float(margin(logits, held_out.labels).mean())


@dataclass(frozen=True)
class HeldOut:
    """Held-out images for the gate: clean, their PGD images (from PyTorch), labels, eps, Square's budget."""

    clean: np.ndarray
    adversarial: np.ndarray
    labels: np.ndarray
    eps: float
    square_queries: int = 200


Score = tuple[float, float]  # (worst-case robust accuracy, mean true-class margin)
Progress = Callable[[int, int], None]  # (int8 candidates tried, the most that will be tried)


def search_float_nodes(
    candidates: Sequence[str],
    evaluate: Callable[[Sequence[str]], Score],
    passes: Callable[[float], bool],
    max_float_layers: int | None = None,
    on_evaluation: Progress | None = None,
) -> dict[str, Any]:
    """The float set: rank `candidates` one at a time, bisect the shortest passing ranked prefix, then prune.

    `evaluate(nodes)` scores the int8 model with `nodes` in float (each distinct set is evaluated once);
    `passes(robust_acc)` is the gate; `on_evaluation(done, bound)` hears after each evaluation. Returns the
    ranking, the kept nodes, their robust accuracy, whether the gate is met, the trace of the prefix and
    pruning trials, and the number of evaluations.
    """
    cache: dict[frozenset[str], Score] = {}
    trace: list[dict[str, Any]] = []
    cap = len(candidates) if max_float_layers is None else max(0, min(max_float_layers, len(candidates)))
    bound = len(candidates) + 1 + math.ceil(math.log2(max(cap, 1))) + cap

    def score(nodes: Sequence[str]) -> Score:
        key = frozenset(nodes)
        if key not in cache:
            cache[key] = evaluate(list(nodes))
            if on_evaluation is not None:
                on_evaluation(len(cache), bound)
        return cache[key]

    def trial(step: str, nodes: Sequence[str]) -> bool:
        acc = score(nodes)[0]
        trace.append({"step": step, "float_nodes": list(nodes), "robust_acc": acc, "gate_met": passes(acc)})
        return passes(acc)

    ranked = sorted(candidates, key=lambda n: (-score([n])[0], -score([n])[1]))
    low, high = 0, cap  # the prefix of `low` layers fails (plain int8 did); `high` is tried next
    met = cap > 0 and trial("prefix", ranked[:high])
    while met and high - low > 1:
        mid = (low + high) // 2
        if trial("prefix", ranked[:mid]):
            high = mid
        else:
            low = mid
    kept = ranked[:high]
    if met:
        for name in reversed(ranked[:high]):
            without = [n for n in kept if n != name]
            if without and trial("prune", without):
                kept = without
    return {
        "ranking": [{"node": n, "robust_acc_with_it_in_float": score([n])[0]} for n in ranked],
        "float_nodes": kept,
        "robust_acc": score(kept)[0] if kept else None,
        "gate_met": bool(met),
        "trace": trace,
        "evaluations": len(cache),
        "max_float_layers": cap,
        "max_evaluations": bound,
    }


def _search_float_layers(
    prepared: Path,
    quantize: Callable[[Sequence[str], Path], Any],
    held_out: HeldOut,
    *,
    passes: Callable[[float], bool],
    max_float_layers: int | None,
    on_candidate: Progress | None,
) -> dict[str, Any]:
    """search_float_nodes over the weighted layers of `prepared`, with its wall time and how it searched.

    `quantize(excluded, path)` writes the candidate that keeps `excluded` in float; it is scored there."""
    graph = onnx.load(str(prepared), load_external_data=False).graph
    candidates = [n.name for n in graph.node if n.op_type in WEIGHTED_OPS]

    trial = prepared.with_name("trial.onnx")

    def evaluate(excluded: Sequence[str]) -> Score:
        quantize(excluded, trial)
        return _score(trial, held_out)

    start = time.perf_counter()
    found = search_float_nodes(
        candidates,
        evaluate,
        passes,
        max_float_layers,
        None if on_candidate is None else lambda done, bound: on_candidate(1 + done, 1 + bound),
    )
    found["search_seconds"] = round(time.perf_counter() - start, 1)
    found["search"] = (
        "rank layers one at a time, bisect the shortest passing prefix of the ranking, then return "
        "each kept layer to int8 where the gate holds without it"
    )
    return found


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
                prepared, path, calibration_images, nodes_to_exclude=excluded, preprocess=False, **options
            )

        reference = _score(fp32, held_out)[0]
        settings = quantize([], dst)
        plain = _score(dst, held_out)[0]
        if on_candidate is not None:
            on_candidate(1, 1)
        record: dict[str, Any] = {
            "held_out_images": int(len(held_out.labels)),
            "attacks": f"PGD-20 from PyTorch, then Square ({held_out.square_queries} queries) on the file",
            "max_drop": max_drop,
            "fp32_robust_acc": reference,
            "plain_int8_robust_acc": plain,
            "ranking": [],
            "float_nodes": [],
        }
        if reference - plain <= max_drop:
            return {**settings, "robustness_aware": {**record, "robust_acc": plain, "gate_met": True}}
        found = _search_float_layers(
            prepared,
            quantize,
            held_out,
            passes=lambda acc: reference - acc <= max_drop,
            max_float_layers=max_float_layers,
            on_candidate=on_candidate,
        )
        settings = quantize(found["float_nodes"], dst)
        if found["robust_acc"] is None:
            found["robust_acc"] = plain
        record.update(found)
        return {**settings, "robustness_aware": record}
