"""The report stage: the run's measured results in report.md / report.json and the final table."""

from __future__ import annotations

from typing import Any

from compressor.config.schema import Recipe
from compressor.pipeline.stage import Stage, StageContext


def run_report(ctx: StageContext) -> dict[str, Any]:
    """Collect what the other stages wrote (whichever ran) into one report."""
    from compressor.report import write_report

    summary = write_report(ctx.recipe, ctx.run, ctx.console)
    report = ctx.run.stage("report")
    ctx.trackers.log_artifacts("report", sorted(p for p in report.iterdir() if p.is_file()))
    ctx.trackers.log_artifacts("bundle", [ctx.run.bundle])
    return summary


def _parts(recipe: Recipe) -> dict[str, object]:
    return {"the recipe": recipe}


REPORT = Stage(
    "report",
    run_report,
    _parts,
    uses=("teachers", "distill", "evaluate", "export", "verify"),
    outputs=("report.md",),
    description="write the report",
)
