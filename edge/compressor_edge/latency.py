"""Latency: median wall time of many runs after warm-up, measured from numpy in to numpy out."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

K = TypeVar("K", bound=Hashable)
ROUNDS = 10  # interleaved timing: every runner gets a turn in each of this many rounds


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


def _latency(batch: int, times: list[float] | np.ndarray) -> Latency:
    seconds = np.asarray(times, dtype=np.float64)
    return Latency(
        batch=batch,
        median_ms=float(np.median(seconds) * 1e3),
        p90_ms=float(np.percentile(seconds, 90) * 1e3),
        runs=len(seconds),
    )


def measure_interleaved(
    runners: Mapping[K, Callable[[np.ndarray], object]],
    batch: np.ndarray,
    *,
    runs: int = 30,
    warmup: int = 5,
    rounds: int = ROUNDS,
) -> dict[K, Latency]:
    """Time every runner on the same batch round-robin: `rounds` turns each, at least `runs` calls in all.

    Load from other processes then falls on every runner alike, so ratios between them (int8 vs fp32, one
    runtime vs another) stay meaningful on a shared machine where back-to-back timing is not.
    """
    for run in runners.values():
        for _ in range(warmup):
            run(batch)
    rounds = max(1, min(rounds, runs))
    per_round = -(-runs // rounds)
    samples: dict[K, list[float]] = {key: [] for key in runners}
    for _ in range(rounds):
        for key, run in runners.items():
            for _ in range(per_round):
                start = time.perf_counter()
                run(batch)
                samples[key].append(time.perf_counter() - start)
    return {key: _latency(int(batch.shape[0]), times) for key, times in samples.items()}
