"""`compressor export` and `compressor verify`: one stage on an existing run, or the edge kit on a bundle."""

from __future__ import annotations

from pathlib import Path

from compressor.config import load_recipe
from compressor.errors import EXIT_GATE_FAILED, EXIT_OK, UserInputError
from compressor.pipeline.rundir import open_run_dir


def run_stage_on(run_dir: Path, stage: str, overrides: list[str]) -> None:
    """Re-run one stage of a finished run with its saved recipe (plus overrides)."""
    from compressor.pipeline.run import run_pipeline

    run = open_run_dir(run_dir)
    recipe = load_recipe(run.recipe, overrides)
    recipe = recipe.model_copy(update={"run": recipe.run.model_copy(update={"output_dir": run.root.parent,
                                                                          "name": run.root.name})})
    run_pipeline(recipe, stages=[stage], force=True)


def verify_target(target: Path, backends: str | None) -> int:
    """Verify a bundle (or a run's bundle) with the edge kit; return the exit code."""
    from rich.console import Console

    from compressor_edge.verify import VerifyTolerances, verify_bundle

    tolerances, chosen, queries = VerifyTolerances(), ("onnxruntime-cpu",), 100
    bundle = target
    if (target / "recipe.yaml").is_file():
        run = open_run_dir(target)
        recipe = load_recipe(run.recipe)
        bundle = run.bundle
        tolerances = VerifyTolerances.from_dict(recipe.verify.tolerances)
        chosen, queries = tuple(recipe.verify.backends), recipe.verify.square_queries
    if not (bundle / "manifest.json").is_file():
        raise UserInputError(f"'{target}' holds no export bundle (manifest.json); run `compressor export RUN_DIR` first")
    if backends:
        chosen = tuple(b.strip() for b in backends.split(",") if b.strip())
    report = verify_bundle(bundle, tolerances, backends=chosen, square_queries=queries)
    Console().print(report.to_markdown())
    return EXIT_OK if report.passed else EXIT_GATE_FAILED
