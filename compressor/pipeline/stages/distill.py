"""The distill stage: train the student from the prepared teachers with the recipe's method."""

from __future__ import annotations

from typing import Any

from compressor.config.schema import Recipe
from compressor.console import warn
from compressor.engine.distributed import wrap_ddp
from compressor.engine.precision import maybe_compile
from compressor.engine.trainer import TRAINING_FILES, FitSetup
from compressor.evaluation.chance import stop_at_chance_teacher, trained_at_chance
from compressor.methods.registry import method_info
from compressor.models.build import build_model, data_info
from compressor.pipeline.artifacts import load_teachers
from compressor.pipeline.stage import Stage, StageContext, StageResult, part_digests, read_output
from compressor.pipeline.training import model_speed, train_model


def run_distill(ctx: StageContext) -> StageResult:
    """Distil the student from the prepared teachers with the recipe's method."""
    recipe, run, data, speed, dist = ctx.recipe, ctx.run, ctx.data, ctx.speed, ctx.dist
    summary: list[dict[str, Any]] = read_output(run, "teachers", "summary")
    stop_at_chance_teacher(summary, data.num_classes, recipe.train.allow_chance_teacher)
    info = data_info(data)
    loaded = load_teachers(recipe, run, info, speed)  # built before the student: the seeded order stays
    model = speed.prepare(build_model(recipe.student, info, device=speed.device))
    speed = model_speed(speed, model, data, "distill", dist, ctx.console)  # the teachers' forwards follow it
    teachers = {role: maybe_compile(t, speed) for role, t in loaded.items()}
    student = wrap_ddp(maybe_compile(model, speed), dist)
    ctx.console.print(
        f"[bold]distill[/] {recipe.student.name} with {recipe.method.name} "
        f"({', '.join(f'{t.role}: {t.model.name}' for t in recipe.teachers) or 'no teacher'})"
    )
    val_attack = recipe.attack if method_info(recipe.method.name).robust_validation else None
    select = data.test if recipe.train.quirk_select_on_test else None
    setup = FitSetup(
        recipe.optim,
        recipe.schedule,
        recipe.train,
        val_attack,
        run.stage("distill"),
        speed,
        dist,
        label="distill",
        select_split=select,
        recipe_parts=part_digests("distill", recipe),
        console=ctx.console,
        tensorboard="tensorboard" in recipe.report.loggers,
        loggers=ctx.trackers.for_fit("distill"),
    )
    result = train_model(student, recipe.method, teachers, recipe.attack, recipe, data, setup, ctx.resume)
    warning = trained_at_chance(result.history, data.num_classes)
    if warning and dist.is_main and not recipe.run.smoke:  # smoke models barely train: nothing to judge
        warn(ctx.console, warning)
    return StageResult(
        {
            "best_epoch": result.best_epoch + 1,
            "best_val_score": result.best_score,
            "history": result.history,
        }
    )


def _parts(recipe: Recipe) -> dict[str, object]:
    return {
        "student": recipe.student,
        "method": recipe.method,
        "attack": recipe.attack,
        "optim": recipe.optim,
        "schedule": recipe.schedule,
        "train": recipe.train,
    }


STAGE = Stage(
    "distill",
    run_distill,
    _parts,
    needs=("pretrain", "teachers"),
    outputs=dict(TRAINING_FILES),  # the trainer's folder layout, declared as this stage's outputs
    all_ranks=True,
    description="distil the student",
)
