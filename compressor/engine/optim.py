"""Optimisers and learning-rate schedules (as functions of the fraction of training done)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

from compressor.config.schema import OptimConfig, ScheduleConfig


def build_optimizer(params: Iterable[nn.Parameter], cfg: OptimConfig) -> torch.optim.Optimizer:
    """SGD (momentum, nesterov) or Adam/AdamW from the recipe."""
    params = [p for p in params if p.requires_grad]
    if cfg.name == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov, weight_decay=cfg.weight_decay
        )
    cls = torch.optim.AdamW if cfg.name == "adamw" else torch.optim.Adam
    return cls(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)


def lr_factor(cfg: ScheduleConfig, fraction: float) -> float:
    """Multiplier of the base learning rate at `fraction` (0..1) of training."""
    if cfg.warmup_fraction > 0 and fraction < cfg.warmup_fraction:
        return (fraction + 1e-8) / cfg.warmup_fraction
    if cfg.name == "constant":
        return 1.0
    if cfg.name == "step":
        return float(cfg.gamma ** sum(fraction >= m for m in cfg.milestones))
    if cfg.name == "cosine":
        start = cfg.warmup_fraction
        progress = (fraction - start) / max(1e-8, 1.0 - start)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    # "ciard": the released script's schedule, constant for the first half, then a damped cosine.
    if fraction < 0.5:
        return 1.0
    t = (fraction - 0.5) / 0.5
    return 0.5 * (1.0 + math.cos(math.pi * t)) * math.exp(-0.01 * t * t)


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: ScheduleConfig, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step LambdaLR following `lr_factor`."""
    total = max(1, total_steps)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(cfg, step / total))
