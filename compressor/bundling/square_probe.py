"""PyTorch's own Square accuracy on the probe points it keeps robust, recorded at export for verify to match.

verify runs the same query-only attack (same points, budget and seed) against each runtime; with PyTorch's
result beside it, a robustness drop after export shows as a gap instead of hiding in a ceiling: on points
PyTorch misclassifies under PGD anyway the attack shows nothing, and with too few queries it fools nothing.
The points are the robust probes nearest to failing (smallest true-class margin under the PGD probe): a
file whose robustness was damaged loses those first, so a few of them keep the check's teeth at a fraction
of the cost of many (every point costs up to `queries` forward passes, per file and runtime at verify).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from compressor_edge.bundle import Probes
from compressor_edge.square import fragile_points, margin, square_attack_linf
from torch import nn

from compressor.bundling.manifest import pytorch_logits

SELECTION = (
    "the probes PyTorch classifies correctly both clean and under the adversarial probe (PGD), "
    "smallest true-class margin under PGD first"
)


def fragile_robust_points(probes: Probes, points: int) -> np.ndarray:
    """Indices of up to `points` robust probes, the smallest PGD margin (closest to failing) first."""
    adversarial_margin = margin(probes.adversarial_logits, probes.labels)
    robust = (probes.clean_logits.argmax(1) == probes.labels) & (adversarial_margin > 0)
    return fragile_points(adversarial_margin, robust, points)


def square_record(
    model: nn.Module, probes: Probes, *, eps: float, queries: int, points: int, seed: int
) -> dict[str, Any] | None:
    """Run Square on up to `points` fragile robust probes (see module doc); None when not run."""
    if queries <= 0 or eps <= 0:
        return None
    indices = fragile_robust_points(probes, points)
    if indices.size == 0:
        return None
    threads = torch.get_num_threads()
    start = time.perf_counter()
    result = square_attack_linf(
        lambda x: pytorch_logits(model, x),
        probes.clean_images[indices],
        probes.labels[indices],
        eps=eps,
        n_queries=queries,
        seed=seed,
    )
    seconds = time.perf_counter() - start
    torch.set_num_threads(threads)
    return {
        "indices": [int(i) for i in indices],
        "queries": int(queries),
        "seed": int(seed),
        "p_init": 0.8,
        "pytorch_square_acc": result.robust_accuracy,
        "pytorch_mean_queries": float(result.queries.mean()),
        "max_forwards": int(queries * indices.size),
        "pytorch_seconds": round(seconds, 2),
        "selection": SELECTION,
    }
