"""The teacher check: teachers measured at the evaluation threat; warnings when they are not stronger."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from compressor.evaluation.teacher_check import (
    clean_teacher_warning,
    robust_teacher_warning,
    teacher_warnings,
)
from compressor.pipeline.run import run_pipeline
from compressor.recipe_loading import load_recipe


def _teacher(role: str, clean: float) -> dict[str, object]:
    """A teachers-stage summary row."""
    return {"role": role, "model": "small_cnn", "test_clean": clean, "test_pgd10": 0.0}


def _at_threat(role: str, robust: float) -> dict[str, object]:
    """An evaluate-stage teacher row: the teacher under the student's evaluation attack and threat."""
    return {"role": role, "model": "small_cnn", "clean": 0.8, "attack": "pgd20", "accuracy": robust}


def test_clean_teacher_must_beat_the_robust_one_on_clean_images() -> None:
    assert clean_teacher_warning([_teacher("robust", 0.78), _teacher("clean", 0.92)]) is None
    message = clean_teacher_warning([_teacher("robust", 0.781), _teacher("clean", 0.78)])
    assert message and "78.00% clean" in message and "78.10%" in message
    assert clean_teacher_warning([_teacher("robust", 0.9)]) is None, "nothing to compare without a clean one"


def test_robust_teacher_must_beat_the_student_under_the_same_attack() -> None:
    teachers = [_at_threat("robust", 0.64)]
    assert robust_teacher_warning(teachers, {"pgd20": 0.60}) is None
    message = robust_teacher_warning(teachers, {"pgd20": 0.65, "autoattack": 0.62})
    assert message and "64.00% under pgd20" in message and "65.00%" in message
    assert robust_teacher_warning(teachers, {"pgd20": 0.60}, margin=0.05) is not None, "4 points < margin 5"
    assert robust_teacher_warning(teachers, {"autoattack": 0.9}) is None, "never compared across attacks"
    assert robust_teacher_warning([], {"pgd20": 0.9}) is None, "no teacher measured (e.g. PGD-AT alone)"


def test_teacher_warnings_collects_both() -> None:
    teachers, at_threat = [_teacher("robust", 0.80), _teacher("clean", 0.79)], [_at_threat("robust", 0.5)]
    assert len(teacher_warnings(teachers, None, at_threat)) == 1
    assert len(teacher_warnings(teachers, {"robust_accuracy": {"pgd20": 0.55}}, at_threat)) == 2


def test_pipeline_records_teachers_at_the_evaluation_threat_and_warns(tiny_recipe) -> None:
    # a margin of 90 points no teacher can clear: the warning must reach the console and the report
    recipe = load_recipe(tiny_recipe(evaluate__eps=0.05, evaluate__teacher_margin=0.9))
    console = Console(record=True, width=400)
    run_pipeline(recipe, stages=["teachers", "distill", "evaluate", "report"], console=console)
    run = Path(recipe.run.output_dir) / recipe.run.name
    at_threat = {t["role"]: t for t in json.loads((run / "evaluate" / "teachers.json").read_text())}
    robust = at_threat["robust"]
    assert (robust["attack"], robust["eps"], robust["norm"], robust["num_images"]) == (
        "pgd20",
        0.05,
        "linf",
        64,
    )
    assert 0.0 <= robust["accuracy"] <= robust["clean"] and set(at_threat) == {"robust", "clean"}
    text = " ".join(console.export_text().split())
    assert "the robust teacher" in text and "by more than 90.0 points" in text
    report = (run / "report" / "report.md").read_text()
    assert "WARNING: the robust teacher" in report
    assert f"({robust['attack']})" in report, "the report's teacher table shows the evaluation-threat column"
