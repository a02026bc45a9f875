"""Every shipped recipe validates, and runs the whole pipeline in smoke mode offline on the CPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compressor.cli.recipes import shipped_recipes
from compressor.pipeline.run import run_pipeline
from compressor.pipeline.smoke import smoke_recipe
from compressor.pipeline.stage import get_stage, stage_names
from compressor.recipe_loading import validate_recipe

RECIPES = shipped_recipes()


def test_recipes_are_shipped() -> None:
    names = {p.stem for p in RECIPES}
    assert {"quickstart", "mnist-ciard", "cifar10-ciard-resnet18", "imagenet-mmt-ard"} <= names


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_recipe_validates(path: Path) -> None:
    recipe, _ = validate_recipe(path, [])
    assert recipe.description, "every shipped recipe says what it is for"


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_recipe_smoke_runs_end_to_end(path: Path, tmp_path: Path) -> None:
    recipe, _ = validate_recipe(path, [])
    smoke = smoke_recipe(recipe, output_dir=str(tmp_path))
    run_pipeline(smoke)
    run = tmp_path / smoke.run.name
    stages = json.loads((run / "stages.json").read_text())
    pretrains = any(m.pretrain for m in [smoke.student, *(t.model for t in smoke.teachers)])
    applying = {name for name in stage_names() if get_stage(name).applies(smoke)}
    assert {"teachers", "distill", "evaluate", "export", "verify", "report"} <= applying
    assert ("pretrain" in applying) == pretrains  # pretrain only where asked
    assert set(stages) == applying
    assert (run / "export" / "bundle" / "model.onnx").is_file()
    evaluation = json.loads((run / "evaluate" / "evaluation.json").read_text())
    assert 0.0 <= evaluation["worst_case_accuracy"] <= evaluation["clean_accuracy"] <= 1.0
    assert json.loads((run / "verify" / "verify.json").read_text())["passed"]
