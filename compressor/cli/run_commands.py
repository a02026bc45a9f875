"""`compressor export` and `compressor verify`: one pipeline stage on an existing run, or the edge kit on a bundle."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from compressor.errors import EXIT_GATE_FAILED, EXIT_OK
from compressor.recipe_loading import load_recipe
from compressor.rundir import RunDir, open_run_dir


def run_stage_on(
    run_dir: Path, stage: str, overrides: list[str], allow_plugins: Collection[str] = ()
) -> RunDir:
    """Re-run one stage of a run with its saved recipe (plus overrides): the pipeline's own stage object.

    The saved recipe's plugins load only with the user's consent (`allow_plugins`), as for any recipe.
    """
    from compressor.pipeline.run import PipelineRun

    run = open_run_dir(run_dir)
    recipe = load_recipe(run.recipe, overrides, allow_plugins=allow_plugins)
    recipe = recipe.model_copy(
        update={"run": recipe.run.model_copy(update={"output_dir": run.root.parent, "name": run.root.name})}
    )
    pipeline = PipelineRun(recipe)
    pipeline.setup()
    try:
        pipeline.run_stages([stage], force=True)
    finally:
        pipeline.cleanup()
    return run


def verify_target(target: Path, backends: str | None, allow_plugins: Collection[str] = ()) -> int:
    """Verify a run's bundle (its verify stage, with the recipe's gates) or a bare bundle; return the exit code."""
    from compressor_edge.verify import VerifyTolerances, verify_bundle

    from compressor.console import make_console
    from compressor.pipeline.stage import read_output, stage_output

    chosen = tuple(b.strip() for b in backends.split(",") if b.strip()) if backends else None
    if (target / "recipe.yaml").is_file():
        overrides = [f"verify.backends=[{','.join(chosen)}]"] if chosen else []
        run = run_stage_on(target, "verify", overrides, allow_plugins)
        make_console().print(stage_output(run, "verify", "table").read_text())
        passed = bool(read_output(run, "verify", "verify")["passed"])
    else:
        report = verify_bundle(target, VerifyTolerances(), backends=chosen or ("onnxruntime-cpu",))
        make_console().print(report.to_markdown())
        passed = report.passed
    return EXIT_OK if passed else EXIT_GATE_FAILED
