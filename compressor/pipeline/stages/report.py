"""The report stage: the run's measured results in report.md / report.json and the final table."""

from __future__ import annotations

from compressor.config.schema import Recipe
from compressor.pipeline.stage import Stage, StageContext, StageResult


def run_report(ctx: StageContext) -> StageResult:
    """Collect what the other stages wrote (whichever ran) into one report."""
    from compressor.report.writer import write_report

    summary = write_report(ctx.recipe, ctx.run, ctx.output, ctx.console)
    report = ctx.output("report", "report").parent
    ctx.trackers.log_artifacts("report", sorted(p for p in report.iterdir() if p.is_file()))
    ctx.trackers.log_artifacts("bundle", [ctx.output("export", "bundle")])
    return StageResult(summary)


def _parts(recipe: Recipe) -> dict[str, object]:
    return {"the recipe": recipe}


STAGE = Stage(
    "report",
    run_report,
    _parts,
    uses=("teachers", "distill", "evaluate", "export", "verify"),
    outputs={"report": "report.md", "summary": "report.json"},
    command="report",
    description="write the report",
)
