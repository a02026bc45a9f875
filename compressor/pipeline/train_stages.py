"""The stages that train: teachers (when the recipe trains them) and distill."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from torch import nn

from compressor.config import section_hash
from compressor.config.schema import AttackConfig, ModelSpec, Recipe, TeacherSpec
from compressor.data import DataBundle, train_batches
from compressor.engine.checkpointing import save_weights
from compressor.engine.distributed import DistInfo, wrap_ddp
from compressor.engine.precision import Speed, maybe_compile
from compressor.engine.trainer import FitResult, FitSetup, fit
from compressor.engine.validation import clean_and_robust_accuracy
from compressor.methods.registry import method_info
from compressor.models.clip_pretrain import ensure_pretrained
from compressor.pipeline.build import build_method, build_model, data_info, freeze, load_teachers
from compressor.pipeline.rundir import RunDir
from compressor.report.chance import chance_warnings, stop_at_chance_teacher


def teachers_hash(recipe: Recipe) -> str:
    return section_hash(recipe.data, recipe.teachers, recipe.attack, recipe.run.seed)


def distill_hash(recipe: Recipe) -> str:
    return section_hash(
        teachers_hash(recipe),
        recipe.student,
        recipe.method,
        recipe.attack,
        recipe.optim,
        recipe.schedule,
        recipe.train,
    )


def _train(
    model: nn.Module,
    method_params: Any,
    teachers: dict[str, nn.Module],
    attack: AttackConfig,
    recipe: Recipe,
    data: DataBundle,
    setup: FitSetup,
    resume: bool,
) -> FitResult:
    """Train one model (a teacher or the student) with a method, on this rank's shard of the data."""
    speed, dist = setup.speed, setup.dist
    batches = train_batches(
        data,
        recipe.data,
        device=speed.device,
        seed=recipe.run.seed,
        rank=dist.rank,
        world_size=dist.world_size,
    )
    method = build_method(
        method_params,
        model,
        teachers,
        attack,
        epochs=setup.train.epochs,
        steps_per_epoch=len(batches),
        speed=speed,
    )
    return fit(model, method, batches, data.val, setup, resume=resume)


def _pretrain(spec: ModelSpec, recipe: Recipe, data: DataBundle, dist: DistInfo, console: Console) -> None:
    """Contrastively pre-train a CLIP the recipe asks for (rank 0; cached in the run by its settings)."""
    if dist.is_main:
        ensure_pretrained(spec, data.train, data.val, data.class_names, recipe.run.seed, console.print)
    dist.barrier()


def _prepare_teacher(
    spec: TeacherSpec,
    recipe: Recipe,
    run: RunDir,
    data: DataBundle,
    speed: Speed,
    dist: DistInfo,
    resume: bool,
    console: Console,
) -> dict[str, Any]:
    info = data_info(data)
    _pretrain(spec.model, recipe, data, dist, console)
    model = speed.prepare(build_model(spec.model, info, device=speed.device))
    if spec.train is not None:
        console.print(
            f"[bold]teacher[/] {spec.role}: training {spec.model.name} with {spec.train.method.name}"
        )
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
        )
        result = _train(trained, spec.train.method, {}, attack, recipe, data, setup, resume)
        from compressor.engine.checkpointing import load_weights

        load_weights(model, result.best)
    clean, robust = clean_and_robust_accuracy(freeze(model), data.test, recipe.attack, speed, limit=1000)
    if dist.is_main:
        save_weights(model, run.teacher_weights(spec.role))
    return {"role": spec.role, "model": spec.model.name, "test_clean": clean, "test_pgd10": robust}


def run_teachers(
    recipe: Recipe,
    run: RunDir,
    data: DataBundle,
    speed: Speed,
    dist: DistInfo,
    *,
    resume: bool,
    console: Console,
) -> list[dict[str, Any]]:
    """Pre-train the CLIPs the recipe asks for, train or load every teacher and save it into the run directory."""
    _pretrain(recipe.student, recipe, data, dist, console)
    summary = [_prepare_teacher(s, recipe, run, data, speed, dist, resume, console) for s in recipe.teachers]
    for message in chance_warnings(summary, None, data.num_classes):
        console.print(f"[bold red]WARNING[/] {message}")
    if dist.is_main:
        run.write_json(run.stage("teachers") / "summary.json", summary)
    return summary


def run_distill(
    recipe: Recipe,
    run: RunDir,
    data: DataBundle,
    speed: Speed,
    dist: DistInfo,
    *,
    resume: bool,
    console: Console,
) -> dict[str, Any]:
    """Distil the student from the prepared teachers with the recipe's method."""
    summary = json.loads((run.stage("teachers") / "summary.json").read_text())
    stop_at_chance_teacher(summary, data.num_classes, recipe.train.allow_chance_teacher)
    info = data_info(data)
    _pretrain(recipe.student, recipe, data, dist, console)
    teachers = {role: maybe_compile(t, speed) for role, t in load_teachers(recipe, run, info, speed).items()}
    student = wrap_ddp(
        maybe_compile(speed.prepare(build_model(recipe.student, info, device=speed.device)), speed), dist
    )
    console.print(
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
    )
    result = _train(student, recipe.method, teachers, recipe.attack, recipe, data, setup, resume)
    return {
        "best_epoch": result.best_epoch + 1,
        "best_val_score": result.best_score,
        "history": result.history,
    }
