"""The verify stage: the exported artifacts re-checked on their runtimes by the edge kit's own code."""

from __future__ import annotations

from typing import Any

from compressor.config.schema import Recipe
from compressor.console import ProgressDisplay
from compressor.pipeline.stage import Stage, StageContext


def run_verify(ctx: StageContext) -> dict[str, Any]:
    """Parity, accuracy, Square and latency of every exported file on every backend; verify.json / .md."""
    from compressor_edge.verify import VerifyOptions, VerifyTolerances, verify_bundle

    recipe, run = ctx.recipe, ctx.run
    cfg, trt = recipe.verify, recipe.export.tensorrt
    with ProgressDisplay(ctx.console) as progress:
        report = verify_bundle(
            run.bundle,
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
    out = run.stage("verify")
    out.mkdir(parents=True, exist_ok=True)
    run.write_json(out / "verify.json", report.to_dict())
    (out / "verify.md").write_text(report.to_markdown())
    return report.to_dict()


def _parts(recipe: Recipe) -> dict[str, object]:
    return {"verify": recipe.verify}


VERIFY = Stage(
    "verify",
    run_verify,
    _parts,
    needs=("export",),
    outputs=("verify.json", "verify.md"),
    description="re-check the bundle on the runtimes",
)
