"""What the two training stages share: one model trained with a method, and its precision settled."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rich.console import Console
from torch import nn

from compressor.config.schema import AttackConfig, Recipe
from compressor.data.batches import Shard
from compressor.data.bundle import DataBundle
from compressor.data.loading import train_batches
from compressor.data.sources import as_float
from compressor.engine.cpu_bf16 import MEASURE_IMAGES
from compressor.engine.distributed import DistInfo, gather_objects
from compressor.engine.precision import Speed
from compressor.engine.trainer import FitResult, FitSetup, fit
from compressor.methods.base import build_method


def train_model(
    model: nn.Module,
    method_params: Any,
    teachers: dict[str, nn.Module],
    attack: AttackConfig,
    recipe: Recipe,
    data: DataBundle,
    setup: FitSetup,
    resume: bool,
) -> FitResult:
    """Train one model (a teacher or the student) with a method, on this rank's shard of the data."""
    speed, dist = setup.speed, setup.dist
    batches = train_batches(
        data,
        recipe.data,
        device=speed.device,
        seed=recipe.run.seed,
        shard=Shard(dist.rank, dist.world_size),
    )
    method = build_method(
        method_params,
        model,
        teachers,
        attack,
        epochs=setup.train.epochs,
        steps_per_epoch=len(batches),
        speed=speed,
    )
    return fit(model, method, batches, data.val, setup, resume=resume)


def model_speed(
    speed: Speed, model: nn.Module, data: DataBundle, label: str, dist: DistInfo, console: Console
) -> Speed:
    """The run's speed for training `model` (a CPU `auto` settled on a batch of the data, CPU bf16 checked
    against the model's shapes on it; every DDP rank takes rank 0's verdict), printed."""
    pool = data.train if data.train is not None else data.val
    n = min(MEASURE_IMAGES, len(pool.y))
    x, y = as_float(pool.x[:n]), pool.y[:n]
    resolved = speed.for_model(model, x, y).with_bf16_shapes_checked(model, x)
    if dist.world_size > 1 and speed.device.type == "cpu":  # timings and the check may differ by rank
        dtype, reason = gather_objects((resolved.dtype, resolved.reason), dist)[0]
        resolved = replace(resolved, dtype=dtype, reason=reason)
    console.print(f"[dim]{label}: {resolved.line()}[/]")
    return resolved
