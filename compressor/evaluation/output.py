"""Where an evaluation goes: evaluation.json and evaluation.md in a run directory, and the console."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from compressor_edge.files import atomic_write_bytes

from compressor.evaluation.result import EvaluationResult

EVALUATION_FILE, EVALUATION_TABLE = "evaluation.json", "evaluation.md"


def write_evaluation(result: EvaluationResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``evaluation.json`` and ``evaluation.md`` into ``out_dir``; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / EVALUATION_FILE, "markdown": out / EVALUATION_TABLE}
    atomic_write_bytes(paths["json"], (json.dumps(result.to_dict(), indent=2) + "\n").encode())
    atomic_write_bytes(paths["markdown"], result.to_markdown().encode())
    return paths


def print_evaluation(result: EvaluationResult, console: Any = None) -> None:
    """A rich table of the accuracies and a list of the sanity checks, failures in red."""
    from rich.table import Table

    from compressor.console import make_console

    console = console or make_console()
    s = result.settings
    table = Table(title=f"Robustness: {result.n} images, {s.get('norm')} eps {s.get('eps_text')}")
    table.add_column("attack")
    table.add_column("accuracy %", justify="right")
    table.add_column("time s", justify="right")
    table.add_row("clean", f"{100 * result.clean_accuracy:.2f}", "")
    for name, acc in result.robust_accuracy.items():
        table.add_row(name, f"{100 * acc:.2f}", f"{result.seconds.get(name, 0.0):.1f}")
    table.add_row("[bold]worst case[/bold]", f"[bold]{100 * result.worst_case_accuracy:.2f}[/bold]", "")
    console.print(table)
    for check in result.sanity_checks:
        style, mark = {True: ("green", "pass"), False: ("bold red", "FAIL"), None: ("yellow", "skip")}[
            check.passed
        ]
        console.print(f"[{style}]{mark:>4}[/{style}] {check.name}: {check.message}", highlight=False)
    if not result.passed:
        console.print(
            "[bold red]Sanity checks failed: the robust accuracies above may be overestimates.[/bold red]"
        )
