"""Live evaluation progress: per attack (and per AutoAttack stage), points done and robust accuracy so far."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from rich.console import Console

from compressor.console import LOGGER, ProgressDisplay, set_verbosity
from compressor.evaluation import AttackSettings, evaluate_robustness


@pytest.fixture(autouse=True)
def _restore_verbosity() -> Iterator[None]:
    before = logging.getLogger(LOGGER).level
    yield
    logging.getLogger(LOGGER).setLevel(before)


def test_evaluation_reports_each_attack_and_autoattack_stage(digits) -> None:
    model, x, y = digits
    out = io.StringIO()
    console = Console(file=out, width=200)  # a log, not a terminal
    set_verbosity(1)
    with ProgressDisplay(console) as progress:
        result = evaluate_robustness(
            model,
            x[:24],
            y[:24],
            attacks=["pgd20", "autoattack"],
            settings=AttackSettings(eps=0.1, batch_size=8),
            sanity_checks=False,
            progress=progress,
        )
    lines = out.getvalue().splitlines()
    pgd = [line for line in lines if line.startswith("pgd20:")]
    assert len(pgd) >= 2 and pgd[-1].endswith(f"robust {100 * result.robust_accuracy['pgd20']:.1f}% so far")
    for stage in ("apgd-ce", "apgd-t", "fab-t", "square"):
        assert any(line.startswith(f"autoattack {stage}:") for line in lines), lines
    last = [line for line in lines if line.startswith("autoattack square:")][-1]
    assert last.endswith(f"robust {100 * result.robust_accuracy['autoattack']:.1f}% so far")
