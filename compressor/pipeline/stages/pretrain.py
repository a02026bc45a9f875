"""The pretrain stage: contrastively pre-train the CLIPs the recipe asks for (`pretrain:`), through the trainer.

It applies only to recipes where a model has a `pretrain:` section. Each model's weights are its declared
output `weights` (keyed by `pretrain_key`: model name and a digest of its settings, data and seed), or the
model's own `checkpoint:` when the recipe names one; a file already there is reused, not trained again.
"""

from __future__ import annotations

from typing import Any

import torch

from compressor.config.schema import ModelSpec, Recipe, TrainConfig
from compressor.data.batches import TensorBatches
from compressor.engine.precision import resolve_speed
from compressor.engine.trainer import FitSetup, fit
from compressor.errors import UserInputError
from compressor.methods.base import MethodContext
from compressor.models.clip_pretrain import (
    ClipContrastive,
    ContrastiveClip,
    pretrain_key,
    pretrain_optim,
    pretraining_models,
    save_clip,
    with_pretrain_checkpoints,
)
from compressor.models.clip_text import resolve_templates
from compressor.models.weights import load_weights
from compressor.pipeline.stage import Stage, StageContext, StageResult, stage_output
from compressor.rundir import RunDir


def _pretrain(spec: ModelSpec, key: str, ctx: StageContext) -> dict[str, Any]:
    """Train `spec`'s CLIP (both towers) with the trainer and save it to its checkpoint; its record."""
    import open_clip

    from compressor.models.clip_tiny import register_tiny_clips

    register_tiny_clips()

    recipe, data, settings = ctx.recipe, ctx.data, spec.pretrain
    if settings is None or spec.checkpoint is None:  # _with_pretrained_weights set it in the run's setup
        raise RuntimeError(f"pretrain: model '{spec.name}' has no pretrain section or no checkpoint")
    if data.train is None:
        raise UserInputError("pretrain: needs an in-memory data set (not imagefolder)")
    torch.manual_seed(recipe.run.seed)
    clip = open_clip.create_model(spec.name, device="cpu")
    cfg = open_clip.get_model_preprocess_cfg(clip)
    model = ContrastiveClip(
        clip,
        open_clip.get_tokenizer(spec.name),
        data.class_names,
        resolve_templates(spec.templates, data.class_names),
        (spec.mean or cfg["mean"], spec.std or cfg["std"]),
        recipe.run.seed,
    ).to(ctx.device)
    train = TrainConfig(epochs=settings.epochs, precision="fp32", compile=False, channels_last=False)
    speed = resolve_speed(train, ctx.device)
    batches = TensorBatches(
        data.train, settings.batch_size, device=ctx.device, shuffle=True, seed=recipe.run.seed, drop_last=True
    )
    ctx.console.print(
        f"[bold]pretrain[/] {spec.name}: contrastive, {settings.epochs} epochs on class-name captions"
    )
    optim, schedule = pretrain_optim(float(settings.lr))
    out = ctx.run.stage("pretrain") / key
    setup = FitSetup(
        optim, schedule, train, None, out, speed, label=f"pretrain {spec.name}", console=ctx.console
    )
    method = ClipContrastive(
        MethodContext(model, {}, recipe.attack, None, settings.epochs, len(batches), ctx.device)
    )
    result = fit(model, method, batches, data.val, setup, resume=ctx.resume)
    # the last epoch, as CLIP pre-training keeps: the schedule has annealed to zero there, and an earlier
    # "best" on a small validation split transferred worse (MNIST zero-shot 12% against 23%+)
    load_weights(model, result.last)
    save_clip(model.clip, spec.checkpoint)
    last = result.history[-1].get("val_clean")
    return {"model": spec.name, "key": key, "file": str(spec.checkpoint), "zero_shot_val": last}


def run_pretrain(ctx: StageContext) -> StageResult:
    """Pre-train every model with a `pretrain:` section whose weights file is not there yet."""
    summary, done = [], set()
    with torch.random.fork_rng():  # later stages draw the same random numbers as without pre-training
        for spec in pretraining_models(ctx.recipe):
            key = pretrain_key(spec, ctx.recipe.data, ctx.recipe.run.seed)
            if key in done:
                continue  # a teacher and the student with the same settings share one pre-training
            done.add(key)
            if spec.checkpoint is not None and spec.checkpoint.is_file():
                ctx.console.print(f"[dim]pretrain {spec.name}: reusing {spec.checkpoint}[/]")
                summary.append({"model": spec.name, "key": key, "file": str(spec.checkpoint), "reused": True})
                continue
            summary.append(_pretrain(spec, key, ctx))
    ctx.run.write_json(ctx.output("pretrain", "summary"), summary)
    return StageResult(summary)


def _parts(recipe: Recipe) -> dict[str, object]:
    models = [(s.name, s.templates, s.pretrain, s.checkpoint) for s in pretraining_models(recipe)]
    return {"pretrain": models, "data": recipe.data, "run.seed": recipe.run.seed}


def _with_pretrained_weights(recipe: Recipe, run: RunDir) -> Recipe:
    """Every model that pre-trains here (and names no file) reads this stage's weights as its checkpoint."""
    return with_pretrain_checkpoints(recipe, lambda key: stage_output(run, "pretrain", "weights", model=key))


STAGE = Stage(
    "pretrain",
    run_pretrain,
    _parts,
    outputs={"summary": "summary.json", "weights": "{model}.safetensors"},
    applies=lambda recipe: bool(pretraining_models(recipe)),
    resolve_recipe=_with_pretrained_weights,
    description="contrastively pre-train the CLIPs that have a `pretrain:` section",
)
