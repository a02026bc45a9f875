"""The evaluate stage: the student's clean and robust accuracy on the test split (up to AutoAttack)."""

from __future__ import annotations

from typing import Any

import torch

from compressor.config.schema import Recipe
from compressor.data.sources import as_float
from compressor.evaluation.output import EVALUATION_FILE, EVALUATION_TABLE
from compressor.evaluation.robustness import AttackSettings, evaluate_robustness
from compressor.evaluation.student import CURVE_FILE, ZERO_SHOT_FILE, evaluate_recipe_model
from compressor.evaluation.teacher_check import robust_teacher_warning
from compressor.models.build import data_info
from compressor.pipeline.artifacts import load_student, load_teachers
from compressor.pipeline.stage import Stage, StageContext, StageResult


def run_evaluate(ctx: StageContext) -> StageResult:
    """Clean, every requested attack and the per-sample worst case on the test split."""
    data = ctx.data  # loaded (and data.json written) before the student is rebuilt from it
    student = load_student(ctx.run, ctx.recipe, ctx.device)
    result, zero_shot = evaluate_recipe_model(
        student, data, ctx.recipe, ctx.run.stage("evaluate"), ctx.device, ctx.console
    )
    summary = result.to_dict()
    if zero_shot is not None:
        summary["zero_shot"] = zero_shot
    teachers = _teachers_at_evaluation_threat(ctx)
    ctx.run.write_json(ctx.output("evaluate", "teachers"), teachers)
    warning = robust_teacher_warning(teachers, result.robust_accuracy, ctx.recipe.evaluate.teacher_margin)
    if warning and not ctx.recipe.run.smoke:  # smoke models barely train: nothing to judge
        ctx.console.print(f"[bold yellow]WARNING[/] {warning}")
    return StageResult(summary)


def _teachers_at_evaluation_threat(ctx: StageContext) -> list[dict[str, Any]]:
    """Each teacher under `evaluate.teacher_attack` at the student's evaluation threat, on its test images.

    In a forked RNG, so the numbers the student's evaluation draws do not depend on this check.
    """
    recipe, test = ctx.recipe, ctx.data.test
    if not recipe.teachers:
        return []
    n = min(recipe.evaluate.num_images, len(test))
    eps, norm = recipe.evaluation_threat()
    attack = recipe.evaluate.teacher_attack
    teachers = load_teachers(recipe, ctx.run, data_info(ctx.data), ctx.speed)
    rows = []
    for spec in recipe.teachers:
        with torch.random.fork_rng(devices=[]), torch.inference_mode(False):
            result = evaluate_robustness(
                teachers[spec.role],
                as_float(test.x[:n]),
                test.y[:n],
                attacks=[attack],
                settings=AttackSettings(
                    eps=eps,
                    norm=norm,
                    batch_size=recipe.evaluate.batch_size,
                    seed=recipe.run.seed,
                    device=ctx.device,
                ),
                sanity_checks=False,
            )
        accuracy = result.robust_accuracy[attack]
        rows.append(
            {"role": spec.role, "model": spec.model.name, "clean": result.clean_accuracy, "attack": attack}
            | {"eps": eps, "norm": norm, "accuracy": accuracy, "num_images": n}
        )
    return rows


def _parts(recipe: Recipe) -> dict[str, object]:
    return {"evaluate": recipe.evaluate}


STAGE = Stage(
    "evaluate",
    run_evaluate,
    _parts,
    needs=("distill",),
    outputs={
        "evaluation": EVALUATION_FILE,
        "table": EVALUATION_TABLE,
        "teachers": "teachers.json",
        "robust_vs_eps": CURVE_FILE,
        "zero_shot": ZERO_SHOT_FILE,
    },
    optional=("robust_vs_eps", "zero_shot"),  # evaluate.eps_curve; a CLIP student
    command="evaluate",
    description="measure clean and robust accuracy",
)
