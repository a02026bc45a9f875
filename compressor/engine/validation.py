"""Quick clean / PGD accuracy on the validation split, for model selection during training."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from compressor.attacks.ascent import maximize
from compressor.config.schema import AttackConfig
from compressor.data.sources import Split, as_float
from compressor.engine.precision import Speed


def clean_and_robust_accuracy(
    model: nn.Module,
    split: Split,
    attack: AttackConfig | None,
    speed: Speed,
    *,
    limit: int = 512,
    batch_size: int = 256,
) -> tuple[float, float | None]:
    """Clean accuracy and PGD accuracy (the training attack, at most 10 steps) on up to `limit` images."""
    was_training = model.training
    model.eval()
    n = min(limit, len(split))
    clean = robust = 0
    autocast = speed.autocast()
    for start in range(0, n, batch_size):
        x = as_float(split.x[start : min(n, start + batch_size)]).to(speed.device)
        y = split.y[start : min(n, start + batch_size)].to(speed.device)
        with torch.no_grad(), autocast():
            clean += int((model(x).argmax(1) == y).sum())
        if attack is not None and attack.eps > 0:

            def objective(z: torch.Tensor, y: torch.Tensor = y) -> torch.Tensor:
                with autocast():
                    return F.cross_entropy(model(z).float(), y, reduction="sum")

            x_adv = maximize(
                objective,
                x,
                eps=attack.eps,
                alpha=attack.alpha,
                steps=min(10, attack.steps),
                norm=attack.norm,
            )
            with torch.no_grad(), autocast():
                robust += int((model(x_adv).argmax(1) == y).sum())
    model.train(was_training)
    return clean / n, (robust / n if attack is not None and attack.eps > 0 else None)
