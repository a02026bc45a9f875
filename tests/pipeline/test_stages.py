"""The pipeline as stage objects: run-dir commands run the same stage, a new stage is one registration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from compressor.cli.main import app
from compressor.config.schema import Recipe
from compressor.errors import UserInputError
from compressor.pipeline.run import parse_stages, run_pipeline
from compressor.pipeline.stage import (
    Stage,
    StageContext,
    StageResult,
    dependents,
    register_stage,
    stage_digest,
    stage_names,
    stages_through,
    unregister_stage,
)
from compressor.recipe_loading import load_recipe


def _run(recipe: Path, stages: list[str]) -> str:
    console = Console(record=True, width=200)
    run_pipeline(load_recipe(recipe), stages=stages, console=console)
    return console.export_text()


def _numbers(evaluation: Path) -> dict[str, Any]:
    record = json.loads(evaluation.read_text())
    return {k: record[k] for k in ("n", "clean_accuracy", "robust_accuracy", "worst_case_accuracy")}


def test_evaluate_run_dir_gives_exactly_the_stage_numbers(tiny_recipe, tmp_path: Path) -> None:
    recipe = tiny_recipe(evaluate={"attacks": ["pgd20", "fgsm"], "num_images": 64, "sanity_checks": False})
    run = Path(load_recipe(recipe).run.output_dir) / "tiny"
    _run(recipe, ["teachers", "distill", "evaluate"])
    from_pipeline = _numbers(run / "evaluate" / "evaluation.json")

    result = CliRunner().invoke(app, ["evaluate", str(run)])
    assert result.exit_code == 0, result.output
    assert _numbers(run / "evaluate" / "evaluation.json") == from_pipeline
    assert "evaluate: up to date" in _run(recipe, ["evaluate"])  # the command recorded the stage

    result = CliRunner().invoke(app, ["evaluate", str(run), "--out", str(tmp_path / "elsewhere")])
    assert result.exit_code == 0, result.output
    assert _numbers(tmp_path / "elsewhere" / "evaluation.json") == from_pipeline

    result = CliRunner().invoke(app, ["evaluate", str(run), "--attacks", "pgd20", "--n", "32"])
    assert result.exit_code == 0, result.output
    changed = _numbers(run / "evaluate" / "evaluation.json")
    assert changed["n"] == 32 and list(changed["robust_accuracy"]) == ["pgd20"]


def test_evaluate_options_are_checked_like_a_recipe(tiny_recipe) -> None:
    recipe = tiny_recipe()
    result = CliRunner().invoke(app, ["evaluate", str(recipe), "--attacks", "pgd20,nosuch"])
    assert result.exit_code == 2
    assert "evaluate.attacks.1" in result.output and "nosuch" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_verify_run_dir_without_its_bundle_says_so_in_one_line(tiny_recipe) -> None:
    recipe = tiny_recipe()
    run = Path(load_recipe(recipe).run.output_dir) / "tiny"
    _run(recipe, ["teachers", "distill"])
    result = CliRunner().invoke(app, ["verify", str(run)])
    assert result.exit_code == 2
    assert "needs the 'export' stage first (not run yet)" in result.output
    assert f"compressor export {run}" in result.output


def test_verify_stage_never_loads_the_data(tiny_recipe, monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = tiny_recipe(verify={"square_queries": 10, "allow_chance_reference": True})
    _run(recipe, ["teachers", "distill", "export"])

    def no_data(*_args: object) -> None:
        raise AssertionError("the verify stage loaded the data set")

    monkeypatch.setattr("compressor.pipeline.stage.load_data", no_data)
    _run(recipe, ["verify"])  # raises if the stage touched the data set
    run = Path(load_recipe(recipe).run.output_dir) / "tiny"
    assert json.loads((run / "stages.json").read_text())["verify"]["outputs"]


def _count_parameters(ctx: StageContext) -> StageResult:
    from safetensors.torch import load_file

    weights = load_file(str(ctx.output("distill", "best")))
    count = sum(t.numel() for t in weights.values())
    ctx.run.write_json(ctx.output("size", "size"), {"parameters": count})
    return StageResult({"parameters": count})


def _size_parts(recipe: Recipe) -> dict[str, object]:
    return {"student": recipe.student}


def test_a_new_stage_is_one_registration(tiny_recipe) -> None:
    size = Stage("size", _count_parameters, _size_parts, needs=("distill",), outputs={"size": "size.json"})
    register_stage(size, before="report")
    try:
        assert stage_names().index("size") == stage_names().index("report") - 1
        assert parse_stages("size,distill") == ["distill", "size"]
        assert stages_through("size") == [*stages_through("verify"), "size"]  # what reaching it takes
        assert "size" in dependents("teachers") and "size" not in dependents("evaluate")
        recipe = tiny_recipe()
        run = Path(load_recipe(recipe).run.output_dir) / "tiny"
        _run(recipe, ["teachers", "distill", "size"])
        assert json.loads((run / "size" / "size.json").read_text())["parameters"] > 0
        assert "size: up to date" in _run(recipe, ["size"])
        (run / "size" / "size.json").unlink()
        assert "size: running again: its output size/size.json is missing" in _run(recipe, ["size"])
    finally:
        unregister_stage("size")
    assert "size" not in stage_names()
    with pytest.raises(ValueError, match="must come after 'distill'"):
        register_stage(size, before="distill")
    with pytest.raises(ValueError, match="unknown stage 'nosuch'"):
        register_stage(Stage("x", _count_parameters, _size_parts, needs=("nosuch",)))
    assert "size" not in stage_names() and "x" not in stage_names()


def test_a_stage_that_skips_its_declared_output_is_a_bug_not_a_pass(tiny_recipe) -> None:
    def forgetful(_ctx: StageContext) -> StageResult:
        return StageResult()

    register_stage(
        Stage("forgetful", forgetful, _size_parts, needs=("distill",), outputs={"out": "out.json"})
    )
    try:
        recipe = tiny_recipe()
        with pytest.raises(RuntimeError, match="without writing its output forgetful/out.json"):
            _run(recipe, ["teachers", "distill", "forgetful"])
        run = Path(load_recipe(recipe).run.output_dir) / "tiny"
        assert "forgetful" not in json.loads((run / "stages.json").read_text())
    finally:
        unregister_stage("forgetful")


def test_digests_chain_through_needs(tiny_recipe) -> None:
    base = load_recipe(tiny_recipe())
    changed = load_recipe(tiny_recipe(teachers__0__train__epochs=2))
    for stage in ("teachers", "distill", "evaluate", "export", "verify"):
        assert stage_digest(stage, base) != stage_digest(stage, changed), stage
    evaluate_only = load_recipe(tiny_recipe(evaluate__num_images=32))
    assert stage_digest("distill", base) == stage_digest("distill", evaluate_only)
    assert stage_digest("evaluate", base) != stage_digest("evaluate", evaluate_only)
    with pytest.raises(UserInputError, match="unknown stage 'nosuch'"):
        parse_stages("distill,nosuch")
