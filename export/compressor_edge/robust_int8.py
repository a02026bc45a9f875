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
margin on the PGD images), and layers are
kept in float in that order (onnxruntime's nodes_to_exclude) until the gate holds or `max_float_layers`
are in float. Costs one quantisation per layer plus one per step, only when plain int8 fails the gate.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
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


def robust_int8(
    fp32: Path,
    dst: Path,
    calibration_images: np.ndarray,
    held_out: HeldOut,
    *,
    max_drop: float,
    max_float_layers: int = 8,
    quantize_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the CPU int8 file to `dst`, keeping layers in float while robust accuracy drops > `max_drop`.

    Returns quantize_int8's settings plus a `robustness_aware` record: the fp32 and int8 robust accuracies,
    the ranking (when one was needed) and the layers kept in float.
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
        graph = onnx.load(str(prepared), load_external_data=False).graph
        candidates = [n.name for n in graph.node if n.op_type in WEIGHTED_OPS]
        trial = Path(tmp) / "trial.onnx"
        scores = []
        for name in candidates:
            quantize([name], trial)
            scores.append((name, *_score(trial, held_out)))
        scores.sort(key=lambda s: (-s[1], -s[2]))
        record["ranking"] = [{"node": n, "robust_acc_with_it_in_float": a} for n, a, _ in scores]
        kept: list[str] = []
        robust = plain
        for name, _, _ in scores[:max_float_layers]:
            kept.append(name)
            settings = quantize(kept, dst)
            robust = _score(dst, held_out)[0]
            if reference - robust <= max_drop:
                break
        record.update(float_nodes=kept, robust_acc=robust, gate_met=reference - robust <= max_drop)
        return {**settings, "robustness_aware": record}
