"""A stage is up to date only while its outputs exist with the hashes recorded when it finished."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from compressor.errors import UserInputError
from compressor.pipeline.run import run_pipeline
from compressor.recipe_loading import load_recipe

STAGES = ["teachers", "distill", "evaluate"]


def _run(recipe: Path, stages: list[str]) -> str:
    console = Console(record=True, width=200)
    run_pipeline(load_recipe(recipe), stages=stages, console=console)
    return console.export_text()


def test_deleted_or_changed_outputs_are_never_up_to_date(tiny_recipe) -> None:
    recipe = tiny_recipe(train={"epochs": 1, "log_every": 1, "allow_chance_teacher": True})
    run = Path(load_recipe(recipe).run.output_dir) / "tiny"
    _run(recipe, STAGES)
    records = json.loads((run / "stages.json").read_text())
    assert "best.safetensors" in records["distill"]["outputs"]
    assert "evaluation.json" in records["evaluate"]["outputs"]

    assert "evaluate: up to date" in _run(recipe, STAGES)

    (run / "evaluate" / "evaluation.json").unlink()
    again = _run(recipe, STAGES)
    assert "evaluate: running again: its output evaluate/evaluation.json is missing" in again
    assert "distill: up to date" in again
    assert (run / "evaluate" / "evaluation.json").is_file()

    best = run / "distill" / "best.safetensors"
    best.write_bytes(best.read_bytes()[:-1] + b"\0")
    with pytest.raises(UserInputError, match="distill/best.safetensors changed"):
        _run(recipe, ["evaluate"])


def test_rerunning_a_stage_makes_later_stages_stale(tiny_recipe) -> None:
    recipe = tiny_recipe(train={"epochs": 1, "log_every": 1, "allow_chance_teacher": True})
    run = Path(load_recipe(recipe).run.output_dir) / "tiny"
    _run(recipe, STAGES)
    (run / "distill" / "best.safetensors").unlink()
    _run(recipe, ["distill"])
    assert "evaluate" not in json.loads((run / "stages.json").read_text())
    assert "evaluate: up to date" not in _run(recipe, STAGES)
