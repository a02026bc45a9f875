"""Which precision each part of a run computed in, and why: from the files the stages wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from compressor.engine.metrics import read_metrics


def precision_rows(
    distill_metrics: Path, teachers: list[dict[str, Any]], evaluation: Any
) -> list[dict[str, str]]:
    """One row per trained teacher, the distillation and the evaluation: part, precision, reason."""
    rows = [{"part": f"teacher {t['role']} training", **t["precision"]} for t in teachers if "precision" in t]
    distill = read_metrics(distill_metrics, "precision")
    if distill:
        last = distill[-1]
        rows.append({"part": "distillation", "precision": last["precision"], "reason": last["reason"]})
    settings = evaluation.get("settings", {}) if isinstance(evaluation, dict) else {}
    if "precision" in settings:
        reason = "attack gradients and the robust/not verdict, whatever precision trained the student"
        rows.append({"part": "evaluation", "precision": settings["precision"], "reason": reason})
    return rows


def precision_lines(rows: list[dict[str, str]]) -> list[str]:
    """The report's markdown section for `precision_rows` (none when nothing was recorded)."""
    if not rows:
        return []
    lines = ["## Precision", "", "| part | precision | why |", "|---|---|---|"]
    return [*lines, *(f"| {r['part']} | {r['precision']} | {r['reason']} |" for r in rows), ""]
