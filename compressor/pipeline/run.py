"""Drive a recipe through its stages, resumably: setup, the stages in order, cleanup (torchtune's recipe shape).

Which stages exist, what they need and what they write is declared on each `Stage`
(`compressor.pipeline.stage`); this module only runs them. `compressor distill` runs all of them;
`compressor evaluate|export|verify RUN_DIR` run one, the same object.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console

import compressor.pipeline.stages  # noqa: F401  (registers the built-in stages)
from compressor.config import save_resolved
from compressor.config.schema import Recipe
from compressor.console import make_console
from compressor.data.registry import with_resolved_data
from compressor.engine.distributed import init_from_env
from compressor.engine.precision import resolve_device, resolve_speed
from compressor.engine.resume import LATEST, changed_parts, latest_checkpoint
from compressor.errors import GateFailed, UserInputError
from compressor.pipeline.stage import (
    StageContext,
    StageResult,
    applying_needs,
    dependents,
    get_stage,
    part_digests,
    resolve_recipe,
    stage_digest,
    stage_names,
)
from compressor.rundir import RunDir
from compressor.runlock import run_lock
from compressor.trackers import Trackers


def parse_stages(text: str | None) -> list[str]:
    """`teachers,distill` -> ordered stage list; None means all."""
    names = stage_names()
    if not text:
        return names
    chosen = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in names]
    if unknown:
        raise UserInputError(f"--stages: unknown stage '{unknown[0]}'; choose from {', '.join(names)}")
    return [s for s in names if s in chosen]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class PipelineRun:
    """One recipe's run directory and the stages run in it."""

    def __init__(self, recipe: Recipe, *, console: Console | None = None, resume: bool = False) -> None:
        self.recipe = recipe
        self.console = console
        self.resume = resume
        self.ctx: StageContext | None = None

    def setup(self) -> StageContext:
        """Join the DDP job, pick the device, resolve pre-trained checkpoints and the data's geometry, seed."""
        dist = init_from_env()
        console = self.console or make_console(quiet_here=not dist.is_main)  # one rank talks
        device = resolve_device(self.recipe.run.device, dist.local_rank)
        run = RunDir(Path(self.recipe.run.output_dir) / self.recipe.run.name)
        recipe = with_resolved_data(resolve_recipe(self.recipe, run))
        seed_everything(recipe.run.seed + dist.rank)
        speed = resolve_speed(recipe.train, device)
        trackers = Trackers(
            recipe.report.loggers if dist.is_main else (), recipe.run.name, recipe.model_dump(mode="json")
        )
        self.ctx = StageContext(recipe, run, device, speed, dist, console, self.resume, trackers)
        return self.ctx

    def check_inputs(self, stages: Sequence[str]) -> None:
        """Before anything is written: every stage's needs are selected too or already up to date."""
        ctx = self._context()
        for name in stages:
            for need in applying_needs(name, ctx.recipe):
                if need in stages:
                    continue
                why = self._why_stale(need)
                if why:
                    command = get_stage(need).command
                    how = f"run `compressor {command} {ctx.run.root}` or " if command else ""
                    how += "add it to --stages"
                    raise UserInputError(f"stage '{name}' needs the '{need}' stage first ({why}); {how}")

    def check_resume(self, stages: Sequence[str]) -> None:
        """Before anything is written: `--resume` continues only checkpoints trained with this recipe."""
        ctx = self._context()
        for name in stages:
            if self._why_stale(name) is None:
                continue  # up to date: skipped, nothing resumed
            current = part_digests(name, ctx.recipe)
            for pointer in sorted(ctx.run.stage(name).rglob(LATEST)):
                latest = latest_checkpoint(pointer.parent)
                changed = changed_parts(latest, current) if latest is not None else []
                if changed:
                    raise UserInputError(
                        f"--resume: the checkpoint {latest} was trained with another recipe "
                        f"({', '.join(changed)} changed since); undo the change to resume it, "
                        f"or add --force to train '{name}' afresh"
                    )

    def run_stages(self, stages: Sequence[str], *, force: bool = False) -> dict[str, Any]:
        """Run the selected stages in order, holding the run directory; up-to-date ones are skipped unless `force`."""
        ctx = self._context()
        self.check_inputs(stages)
        if ctx.resume and not force:
            self.check_resume(stages)
        if not ctx.dist.is_main:  # rank 0 holds the lock for the whole job
            return self._run_stages(stages, force)
        with run_lock(ctx.run.root, lambda text: ctx.console.print(f"[yellow]note: {text}[/]")):
            return self._run_stages(stages, force)

    def _run_stages(self, stages: Sequence[str], force: bool) -> dict[str, Any]:
        ctx = self._context()
        if ctx.dist.is_main:
            save_resolved(ctx.recipe, ctx.run.recipe)
        outcome: dict[str, Any] = {"run_dir": str(ctx.run.root)}
        for name in stages:
            if not get_stage(name).applies(ctx.recipe):
                continue  # nothing asked of it (e.g. no model pre-trains here)
            stale = self._why_stale(name)
            if stale is None and not force:
                ctx.console.print(f"[dim]{name}: up to date, skipped[/]")
                continue
            if stale not in (None, "not run yet"):
                ctx.console.print(f"[yellow]{name}: running again: {stale}[/]")
            outcome[name] = self._run_one(name)
        return outcome

    def cleanup(self) -> None:
        """End the trackers' runs; leave the DDP job if this run joined one."""
        if self.ctx is not None:
            self.ctx.trackers.close()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()

    def _run_one(self, name: str) -> Any:
        ctx, stage = self._context(), get_stage(name)
        started = time.perf_counter()
        result = stage.run(ctx) if stage.all_ranks or ctx.dist.is_main else StageResult()
        if ctx.dist.is_main:
            missing = [o for o in stage.promised if not (ctx.run.stage(name) / o).is_file()]
            if missing:
                raise RuntimeError(f"stage '{name}' finished without writing its output {name}/{missing[0]}")
            seconds = round(time.perf_counter() - started, 1)
            digest = stage_digest(name, ctx.recipe)
            gate = {"passed": result.passed, "failure": result.failure}
            ctx.run.mark_done(name, digest, invalidates=dependents(name), seconds=seconds, **gate)
        ctx.dist.barrier()
        return result.summary

    def _why_stale(self, name: str) -> str | None:
        ctx = self._context()
        return ctx.run.why_stale(name, stage_digest(name, ctx.recipe), get_stage(name).promised)

    def _context(self) -> StageContext:
        if self.ctx is None:
            raise RuntimeError("PipelineRun.setup() must run first")
        return self.ctx


def run_pipeline(
    recipe: Recipe,
    *,
    stages: Sequence[str] | None = None,
    resume: bool = False,
    force: bool = False,
    console: Console | None = None,
) -> dict[str, Any]:
    """Run the selected stages (all by default); a stage whose gate failed raises after the report."""
    run = PipelineRun(recipe, console=console, resume=resume)
    ctx = run.setup()
    chosen = list(stages) if stages is not None else stage_names()
    try:
        outcome = run.run_stages(chosen, force=force)
    finally:
        run.cleanup()
    failed = [record for name in chosen if (record := ctx.run.record(name)) and record.get("passed") is False]
    if ctx.dist.is_main and failed:
        raise GateFailed(failed[0]["failure"])
    return outcome
