"""measure_interleaved: every runner gets a turn in each round, so load falls on all of them alike."""

from __future__ import annotations

import time

import numpy as np

from compressor_edge.latency import measure_interleaved


def test_runners_alternate_and_ratios_hold() -> None:
    calls: list[str] = []

    def runner(name: str, seconds: float):
        def run(batch: np.ndarray) -> None:
            calls.append(name)
            time.sleep(seconds)

        return run

    batch = np.zeros((2, 1, 4, 4), dtype=np.float32)
    timed = measure_interleaved(
        {"slow": runner("slow", 0.004), "fast": runner("fast", 0.001)}, batch, runs=6, warmup=1, rounds=3
    )
    assert calls[:2] == ["slow", "fast"]  # warm-up, then three rounds of two calls each
    assert calls[2:] == ["slow", "slow", "fast", "fast"] * 3
    assert timed["slow"].runs == timed["fast"].runs == 6 and timed["fast"].batch == 2
    assert timed["slow"].median_ms > timed["fast"].median_ms


def test_fewer_runs_than_rounds_still_times_each_runner() -> None:
    timed = measure_interleaved({0: lambda b: None}, np.zeros((1, 1, 2, 2), np.float32), runs=3, warmup=0)
    assert timed[0].runs == 3 and timed[0].median_ms >= 0
