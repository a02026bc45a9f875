"""One CIARD step of ours equals one step of the authors' loop (the benchmark's reference), in both layouts."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_ciard_step.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_ciard_step", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "channels_last"])
@pytest.mark.parametrize("attack", ["backward", "grad"])
def test_ours_matches_the_reference_step(bench, attack, channels_last):
    args = argparse.Namespace(
        student="tiny_cnn", teacher_robust="tiny_cnn", teacher_clean="tiny_cnn", num_classes=4
    )
    models = bench.build_models(args, torch.device("cpu"))
    g = torch.Generator().manual_seed(0)
    x, y = 0.05 + 0.9 * torch.rand(8, 3, 8, 8, generator=g), torch.randint(0, 4, (8,), generator=g)
    diffs = bench.check(models, x, y, attack, channels_last)
    assert max(diffs.values()) <= 1e-6, diffs
