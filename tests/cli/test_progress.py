"""Progress and verbosity: live per-attack progress, one plain line per step off a terminal, -q and -v."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from rich.console import Console
from typer.testing import CliRunner

from compressor.cli.main import app
from compressor.console import LOGGER, ProgressDisplay, make_console, set_verbosity, warn
from compressor.engine.trainer import validation_line

runner = CliRunner()


@pytest.fixture(autouse=True)
def _restore_verbosity() -> Iterator[None]:
    before = logging.getLogger(LOGGER).level
    yield
    logging.getLogger(LOGGER).setLevel(before)


def _log_console() -> tuple[Console, io.StringIO]:
    """A console writing to a file, as when output goes to a log."""
    out = io.StringIO()
    return Console(file=out, width=200), out


def test_off_a_terminal_each_step_is_one_plain_line() -> None:
    console, out = _log_console()
    set_verbosity(1)  # -v: every update, not one per heartbeat
    with ProgressDisplay(console) as progress:
        task = progress.add("pgd20", 3)
        for done in (1, 2, 3):
            progress.update(task, done, f"robust {done}")
    assert out.getvalue().splitlines() == [
        "pgd20: 1/3 robust 1",
        "pgd20: 2/3 robust 2",
        "pgd20: 3/3 robust 3",
    ]
    assert "\r" not in out.getvalue()


def test_without_v_a_log_gets_the_end_of_each_task_and_a_heartbeat() -> None:
    console, out = _log_console()
    set_verbosity(0)
    with ProgressDisplay(console) as progress:
        task = progress.add("train 1/2", 100)
        for done in range(1, 101):
            progress.update(task, done)
    assert out.getvalue().splitlines() == ["train 1/2: 100/100"]


def test_quiet_prints_nothing() -> None:
    console, out = _log_console()
    set_verbosity(-1)
    with ProgressDisplay(Console(file=out, quiet=True)) as progress:
        progress.counter("verify rows")(1, 1)
    assert out.getvalue() == ""


def test_validation_line_marks_the_best_epoch() -> None:
    record = {"epoch": 3, "val_clean": 0.8125, "val_robust": 0.401, "score": 0.401}
    assert validation_line("distill", record, best=True) == (
        "distill epoch 3: val clean 81.2%  robust 40.1%  (best so far)"
    )


def test_q_silences_validate_and_v_with_q_is_bad_input(tiny_recipe) -> None:
    recipe = str(tiny_recipe())
    lines = runner.invoke(app, ["validate", recipe]).output.splitlines()
    assert lines[0].startswith("data: digits") and lines[-1].startswith("ok:")
    quiet = runner.invoke(app, ["-q", "validate", recipe])
    assert quiet.exit_code == 0 and quiet.output == ""
    both = runner.invoke(app, ["-q", "-v", "validate", recipe])
    assert both.exit_code == 2 and "contradict" in both.output


def test_under_q_warnings_still_reach_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    set_verbosity(-1)
    warn(make_console(), "the robust teacher is at chance")
    assert capsys.readouterr().err.strip() == "WARNING the robust teacher is at chance"
    set_verbosity(0)
    warn(Console(quiet=True), "a DDP rank > 0 stays silent")
    assert capsys.readouterr().err == ""
