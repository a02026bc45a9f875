"""The teachers stage: train or load every teacher (a pre-trained CLIP from the pretrain stage), save them."""

from __future__ import annotations

from typing import Any

from compressor.config.schema import Recipe, TeacherSpec
from compressor.console import warn
from compressor.engine.distributed import wrap_ddp
from compressor.engine.precision import maybe_compile
from compressor.engine.trainer import FitSetup
from compressor.engine.validation import clean_and_robust_accuracy
from compressor.evaluation.chance import chance_warnings
from compressor.evaluation.teacher_check import clean_teacher_warning
from compressor.methods.registry import method_info
from compressor.models.build import build_model, data_info, freeze
from compressor.models.weights import load_weights, save_weights
from compressor.pipeline.stage import Stage, StageContext, StageResult, part_digests
from compressor.pipeline.training import model_speed, train_model


def _prepare_teacher(spec: TeacherSpec, ctx: StageContext) -> dict[str, Any]:
    recipe, run, data, speed, dist = ctx.recipe, ctx.run, ctx.data, ctx.speed, ctx.dist
    model = speed.prepare(build_model(spec.model, data_info(data), device=speed.device))
    precision: dict[str, Any] = {}
    if spec.train is not None:
        ctx.console.print(
            f"[bold]teacher[/] {spec.role}: training {spec.model.name} with {spec.train.method.name}"
        )
        speed = model_speed(speed, model, data, f"teacher {spec.role}", dist, ctx.console)
        precision = {"precision": speed.describe()}
        attack = spec.train.attack or recipe.attack
        train_cfg = recipe.train.model_copy(update={"epochs": spec.train.epochs})
        trained = wrap_ddp(maybe_compile(model, speed), dist)
        val_attack = attack if method_info(spec.train.method.name).robust_validation else None
        setup = FitSetup(
            spec.train.optim,
            spec.train.schedule,
            train_cfg,
            val_attack,
            run.stage("teachers") / spec.role,
            speed,
            dist,
            label=f"teacher {spec.role}",
            recipe_parts=part_digests("teachers", recipe),
            console=ctx.console,
            tensorboard="tensorboard" in recipe.report.loggers,
            loggers=ctx.trackers.for_fit(f"teacher {spec.role}"),
        )
        result = train_model(trained, spec.train.method, {}, attack, recipe, data, setup, ctx.resume)
        load_weights(model, result.best)
    clean, robust = clean_and_robust_accuracy(freeze(model), data.test, recipe.attack, speed, limit=1000)
    if dist.is_main:
        save_weights(model, ctx.output("teachers", "weights", role=spec.role))
    return {
        "role": spec.role,
        "model": spec.model.name,
        "test_clean": clean,
        "test_pgd10": robust,
        **precision,
    }


def run_teachers(ctx: StageContext) -> StageResult:
    """Train or load every teacher and save it into the run."""
    summary = [_prepare_teacher(spec, ctx) for spec in ctx.recipe.teachers]
    if ctx.dist.is_main:
        for message in chance_warnings(summary, None, ctx.data.num_classes, smoke=ctx.recipe.run.smoke):
            warn(ctx.console, message)
        warning = clean_teacher_warning(summary)
        if warning and not ctx.recipe.run.smoke:  # smoke models barely train: nothing to judge
            warn(ctx.console, warning)
        ctx.run.write_json(ctx.output("teachers", "summary"), summary)
    return StageResult(summary)


def _parts(recipe: Recipe) -> dict[str, object]:
    return {
        "data": recipe.data,
        "teachers": recipe.teachers,
        "attack": recipe.attack,
        "run.seed": recipe.run.seed,
    }


STAGE = Stage(
    "teachers",
    run_teachers,
    _parts,
    needs=("pretrain",),
    outputs={"summary": "summary.json", "weights": "{role}.safetensors"},
    all_ranks=True,
    description="train or load the teachers",
)
