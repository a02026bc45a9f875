"""PyTorch's own Square accuracy on the probe points it keeps robust, recorded at export for verify to match.

verify runs the same query-only attack (same points, budget and seed) against each runtime; with PyTorch's
result beside it, a robustness drop after export shows as a gap instead of hiding in a ceiling: on points
PyTorch misclassifies under PGD anyway the attack shows nothing, and with too few queries it fools nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from compressor_edge.bundle import Probes
from compressor_edge.square import square_attack_linf
from torch import nn

from compressor.exporting.manifest import pytorch_logits


def square_record(
    model: nn.Module, probes: Probes, *, eps: float, queries: int, points: int, seed: int
) -> dict[str, Any] | None:
    """Run Square on up to `points` probes PyTorch classifies right clean and under PGD; None when not run."""
    if queries <= 0 or eps <= 0:
        return None
    robust = (probes.clean_logits.argmax(1) == probes.labels) & (
        probes.adversarial_logits.argmax(1) == probes.labels
    )
    indices = np.flatnonzero(robust)[:points]
    if indices.size == 0:
        return None
    threads = torch.get_num_threads()
    result = square_attack_linf(
        lambda x: pytorch_logits(model, x),
        probes.clean_images[indices],
        probes.labels[indices],
        eps=eps,
        n_queries=queries,
        seed=seed,
    )
    torch.set_num_threads(threads)
    return {
        "indices": [int(i) for i in indices],
        "queries": int(queries),
        "seed": int(seed),
        "p_init": 0.8,
        "pytorch_square_acc": result.robust_accuracy,
        "pytorch_mean_queries": float(result.queries.mean()),
        "selection": "probes PyTorch classifies correctly both clean and under the adversarial probe (PGD)",
    }
