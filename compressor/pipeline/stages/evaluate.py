"""The evaluate stage: the student's clean and robust accuracy on the test split (up to AutoAttack)."""

from __future__ import annotations

import json
from typing import Any

from compressor.config.schema import Recipe
from compressor.evaluation.student import evaluate_recipe_model
from compressor.evaluation.teacher_check import robust_teacher_warning
from compressor.models.build import load_student
from compressor.pipeline.stage import Stage, StageContext


def run_evaluate(ctx: StageContext) -> dict[str, Any]:
    """Clean, every requested attack and the per-sample worst case on the test split."""
    data = ctx.data  # loaded (and data.json written) before the student is rebuilt from it
    student = load_student(ctx.run, ctx.recipe, ctx.device)
    result, zero_shot = evaluate_recipe_model(
        student, data, ctx.recipe, ctx.run.stage("evaluate"), ctx.device, ctx.console
    )
    summary = result.to_dict()
    if zero_shot is not None:
        summary["zero_shot"] = zero_shot
    teachers_file = ctx.run.stage("teachers") / "summary.json"
    teachers = json.loads(teachers_file.read_text()) if teachers_file.is_file() else []
    warning = robust_teacher_warning(teachers, result.robust_accuracy, ctx.recipe.evaluate.teacher_margin)
    if warning:
        ctx.console.print(f"[bold yellow]WARNING[/] {warning}")
    return summary


def _parts(recipe: Recipe) -> dict[str, object]:
    return {"evaluate": recipe.evaluate}


EVALUATE = Stage(
    "evaluate",
    run_evaluate,
    _parts,
    needs=("distill",),
    outputs=("evaluation.json",),
    description="measure clean and robust accuracy",
)
