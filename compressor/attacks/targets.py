"""Targeted attacks over the runner-up classes (APGD-T, FAB-T), several targets per batch.

The reference runs target classes one after another, each on the points the previous ones left
robust. Here the (point, target) runs are stacked as rows of one batch, as many targets at once as fit
in ``max_rows`` rows, and all rows of a point leave the batch as soon as one of them fools it. Each run is
the same algorithm on its own row, so the set of points found robust has the same distribution; small
batches (the points that survive earlier stages) fill the device instead of trickling through it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

# run(x_rows, y_rows, target_rows, group, restart) -> (x_adv_rows, fooled_rows); rows sharing a group
# value belong to one point, and the run drops them all once one of them is fooled.
TargetRun = Callable[[Tensor, Tensor, Tensor, Tensor, int], "tuple[Tensor, Tensor]"]


def runner_up_classes(logits: Tensor, n_target_classes: int) -> Tensor:
    """[B, n] classes ranked 2nd, 3rd, ... by the clean logits (the reference's target order)."""
    n = min(n_target_classes, logits.shape[1] - 1)
    return logits.topk(n + 1, dim=1).indices[:, 1:]


def attack_targets(
    run: TargetRun,
    x: Tensor,
    y: Tensor,
    targets: Tensor,
    robust: Tensor,
    x_adv: Tensor,
    *,
    n_restarts: int,
    max_rows: int | None,
) -> None:
    """Run ``run`` for every target column on the points still ``robust``; update ``robust``, ``x_adv``."""
    first, n_targets = 0, targets.shape[1]
    while first < n_targets:
        active = robust.nonzero().squeeze(1)
        if active.numel() == 0:
            return
        k = min(n_targets - first, max(1, (max_rows or 0) // active.numel()))
        for restart in range(n_restarts):
            active = robust.nonzero().squeeze(1)
            if active.numel() == 0:
                return
            point = active.repeat(k)
            target_rows = targets[active, first : first + k].t().reshape(-1)
            group = torch.arange(active.numel(), device=x.device).repeat(k)
            out, fooled = run(x[point], y[point], target_rows, group, restart)
            hit = point[fooled]
            x_adv[hit] = out[fooled]
            robust[hit] = False
        first += k
