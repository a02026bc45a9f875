"""The verify stage: the exported artifacts re-checked on their runtimes by the edge kit's own code."""

from __future__ import annotations

from compressor.config.schema import Recipe
from compressor.console import ProgressDisplay
from compressor.pipeline.stage import Stage, StageContext, StageResult


def run_verify(ctx: StageContext) -> StageResult:
    """Parity, accuracy, Square and latency of every exported file on every backend; verify.json / .md."""
    from compressor_edge.verify import VerifyOptions, VerifyTolerances, verify_bundle

    recipe, run = ctx.recipe, ctx.run
    cfg, trt = recipe.verify, recipe.export.tensorrt
    with ProgressDisplay(ctx.console) as progress:
        report = verify_bundle(
            ctx.output("export", "bundle"),
            VerifyTolerances.from_dict(cfg.tolerances),
            formats=cfg.formats,
            backends=tuple(cfg.backends),
            options=VerifyOptions(
                square_queries=cfg.square_queries,
                skip_square=cfg.skip_square,
                seed=recipe.run.seed,
                batch_sizes=tuple(sorted(set(cfg.batch_sizes) | set(trt.batch_sizes if trt.enabled else ()))),
                latency_runs=cfg.latency_runs,
                threads=cfg.threads,
                allow_chance_reference=cfg.allow_chance_reference,
            ),
            on_row=progress.counter("verify rows", "checked (format x runtime)"),
        )
    table = ctx.output("verify", "table")
    table.parent.mkdir(parents=True, exist_ok=True)
    run.write_json(ctx.output("verify", "verify"), report.to_dict())
    table.write_text(report.to_markdown())
    failure = f"verification failed: see {table} (all artifacts were written)"
    return StageResult(report.to_dict(), report.passed, "" if report.passed else failure)


def _parts(recipe: Recipe) -> dict[str, object]:
    return {"verify": recipe.verify}


STAGE = Stage(
    "verify",
    run_verify,
    _parts,
    needs=("export",),
    outputs={"verify": "verify.json", "table": "verify.md"},
    command="verify",
    description="re-check the bundle on the runtimes",
)
