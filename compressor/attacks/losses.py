"""Per-sample losses the attacks maximise, all on float32 logits [B, K]; larger means closer to fooled."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def cross_entropy(logits: Tensor, y: Tensor, _y_target: Tensor | None = None) -> Tensor:
    """Cross-entropy of the true class (PGD, APGD-CE)."""
    return F.cross_entropy(logits, y, reduction="none")


def max_other(logits: Tensor, y: Tensor) -> Tensor:
    """Largest logit among the classes other than ``y``."""
    return logits.scatter(1, y[:, None], float("-inf")).amax(1)


def margin(logits: Tensor, y: Tensor, _y_target: Tensor | None = None) -> Tensor:
    """Carlini-Wagner margin max_{j != y} z_j - z_y: positive exactly when the point is misclassified."""
    return max_other(logits, y) - logits.gather(1, y[:, None]).squeeze(1)


def dlr(logits: Tensor, y: Tensor, _y_target: Tensor | None = None) -> Tensor:
    """Difference of Logits Ratio (Croce & Hein 2020): shift- and scale-invariant margin."""
    top = logits.topk(3, dim=1).values
    return margin(logits, y) / (top[:, 0] - top[:, 2] + 1e-12)


def dlr_targeted(logits: Tensor, y: Tensor, y_target: Tensor) -> Tensor:
    """Targeted DLR of APGD-T: (z_t - z_y) / (z_pi1 - (z_pi3 + z_pi4) / 2); needs at least 4 classes."""
    top = logits.topk(4, dim=1).values
    diff = logits.gather(1, y_target[:, None]).squeeze(1) - logits.gather(1, y[:, None]).squeeze(1)
    return diff / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + 1e-12)


LOSSES = {"ce": cross_entropy, "margin": margin, "dlr": dlr}


def misclassified(logits: Tensor, y: Tensor) -> Tensor:
    """Boolean mask of rows whose top-1 prediction is not ``y``."""
    return logits.argmax(1) != y
