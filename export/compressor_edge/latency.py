"""Latency: median wall time of many runs after warm-up, measured from numpy in to numpy out."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Latency:
    """Timing of one batch size, in milliseconds per batch."""

    batch: int
    median_ms: float
    p90_ms: float
    runs: int


def tile_batch(images: np.ndarray, batch: int) -> np.ndarray:
    """A batch of exactly `batch` images, repeating the given ones as needed."""
    reps = -(-batch // images.shape[0])
    return np.ascontiguousarray(np.concatenate([images] * reps, axis=0)[:batch], dtype=np.float32)


def measure(
    run: Callable[[np.ndarray], object], batch: np.ndarray, *, runs: int = 30, warmup: int = 5
) -> Latency:
    """Median and 90th percentile of `runs` timed calls after `warmup` untimed ones."""
    for _ in range(warmup):
        run(batch)
    times = np.empty(runs, dtype=np.float64)
    for i in range(runs):
        start = time.perf_counter()
        run(batch)
        times[i] = time.perf_counter() - start
    return Latency(
        batch=int(batch.shape[0]),
        median_ms=float(np.median(times) * 1e3),
        p90_ms=float(np.percentile(times, 90) * 1e3),
        runs=runs,
    )
