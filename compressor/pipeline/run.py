"""Drive a recipe through teachers -> distill -> evaluate -> export -> verify -> report, resumably."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console

from compressor.config import save_resolved, section_hash
from compressor.config.schema import Recipe
from compressor.data import load_data
from compressor.engine.distributed import init_from_env
from compressor.engine.precision import resolve_device, resolve_speed
from compressor.errors import GateFailed, UserInputError
from compressor.models.clip_pretrain import with_pretrain_checkpoints
from compressor.pipeline import post_stages as post
from compressor.pipeline import train_stages as train
from compressor.pipeline.build import save_data_info
from compressor.pipeline.rundir import STAGES, RunDir

_NEEDS = {"distill": "teachers", "evaluate": "distill", "export": "distill", "verify": "export"}


def parse_stages(text: str | None) -> list[str]:
    """`teachers,distill` -> ordered stage list; None means all."""
    if not text:
        return list(STAGES)
    chosen = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in STAGES]
    if unknown:
        raise UserInputError(f"--stages: unknown stage '{unknown[0]}'; choose from {', '.join(STAGES)}")
    return [s for s in STAGES if s in chosen]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def run_pipeline(
    recipe: Recipe,
    *,
    stages: Sequence[str] = STAGES,
    resume: bool = False,
    force: bool = False,
    console: Console | None = None,
) -> dict[str, Any]:
    """Run the selected stages; up-to-date stages are skipped; a failed gate raises after the report."""
    dist = init_from_env()
    console = console or Console(quiet=not dist.is_main)  # one rank talks
    device = resolve_device(recipe.run.device, dist.local_rank)
    speed = resolve_speed(recipe.train, device)
    run = RunDir(Path(recipe.run.output_dir) / recipe.run.name)
    recipe = with_pretrain_checkpoints(recipe, run.root)
    seed_everything(recipe.run.seed + dist.rank)
    hashes = {
        "teachers": train.teachers_hash(recipe),
        "distill": train.distill_hash(recipe),
        "evaluate": post.evaluate_hash(recipe),
        "export": post.export_hash(recipe),
        "verify": post.verify_hash(recipe),
        "report": section_hash(recipe),  # re-runs when any earlier stage does (mark_done)
    }
    for stage in stages:  # before anything is written: a stage whose input is missing is bad input
        needed = _NEEDS.get(stage)
        missing = needed and needed not in stages and run.why_stale(needed, hashes[needed])
        if missing:
            raise UserInputError(
                f"stage '{stage}' needs the '{needed}' stage of this recipe first ({missing}); "
                f"run without --stages or add {needed}"
            )
    data = load_data(recipe.data, recipe.run.seed)
    if dist.is_main:
        run.root.mkdir(parents=True, exist_ok=True)
        save_resolved(recipe, run.recipe)
        save_data_info(run, data)
    actions: dict[str, Callable[[], Any]] = {
        "teachers": lambda: train.run_teachers(
            recipe, run, data, speed, dist, resume=resume, console=console
        ),
        "distill": lambda: train.run_distill(recipe, run, data, speed, dist, resume=resume, console=console),
        "evaluate": lambda: post.run_evaluate(recipe, run, data, device),
        "export": lambda: post.run_export(recipe, run, data, device),
        "verify": lambda: post.run_verify(recipe, run),
        "report": lambda: _report(recipe, run, console),
    }
    outcome: dict[str, Any] = {"run_dir": str(run.root)}
    for stage in stages:
        stale = run.why_stale(stage, hashes[stage])
        if stale is None and not force:
            console.print(f"[dim]{stage}: up to date, skipped[/]")
            continue
        if stale not in (None, "not run yet"):
            console.print(f"[yellow]{stage}: running again: {stale}[/]")
        started = time.perf_counter()
        if stage in ("teachers", "distill") or dist.is_main:  # the other stages run on rank 0 only
            outcome[stage] = actions[stage]()
        if dist.is_main:
            run.mark_done(stage, hashes[stage], seconds=round(time.perf_counter() - started, 1))
        dist.barrier()
    verify = run.stage("verify") / "verify.json"
    if dist.is_main and "verify" in stages and verify.is_file():
        import json

        if not json.loads(verify.read_text()).get("passed", False):
            raise GateFailed(
                f"verification failed: see {verify.with_suffix('.md')} (all artifacts were written)"
            )
    return outcome


def _report(recipe: Recipe, run: RunDir, console: Console) -> dict[str, Any]:
    from compressor.report import write_report

    return write_report(recipe, run, console)
