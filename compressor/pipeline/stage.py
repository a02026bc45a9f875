"""A stage of the pipeline and the registry that orders them.

A `Stage` says what it needs (stages whose outputs it reads and that must be up to date), what else it
reads (`uses`: it goes stale when they re-run), which recipe parts its digest covers, which files it
promises to write, and how to run on a `StageContext`. Adding a stage is one `register_stage` call; the
runner (`compressor.pipeline.run`) derives ordering, digests, input checks and invalidation from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import torch
from rich.console import Console

from compressor.config import section_hash
from compressor.config.schema import Recipe
from compressor.data.bundle import DataBundle
from compressor.data.loading import load_data
from compressor.engine.distributed import DistInfo
from compressor.engine.precision import Speed
from compressor.errors import UserInputError
from compressor.models.build import data_info
from compressor.report.trackers import Trackers
from compressor.rundir import RunDir


@dataclass
class StageContext:
    """Everything a stage runs with; the data set is loaded on first use (verify and report never load it)."""

    recipe: Recipe
    run: RunDir
    device: torch.device
    speed: Speed
    dist: DistInfo
    console: Console
    resume: bool = False
    trackers: Trackers = field(default_factory=Trackers)  # W&B / MLflow (report.loggers), rank 0

    @cached_property
    def data(self) -> DataBundle:
        data = load_data(self.recipe.data, self.recipe.run.seed)
        if self.dist.is_main:
            self.run.write_json(self.run.data_info, data_info(data))
            for line in data.record.get("splits", []):
                self.console.print(f"[dim]data: {line}[/]")
        return data


@dataclass(frozen=True)
class Stage:
    """One step of a run: its inputs, the recipe parts it depends on, its declared outputs and its work."""

    name: str
    run: Callable[[StageContext], Any]
    parts: Callable[[Recipe], dict[str, Any]]  # the recipe sections its digest covers, by YAML path
    needs: tuple[str, ...] = ()  # must be up to date before it runs; their digests are part of its own
    uses: tuple[str, ...] = ()  # read when present; re-running them makes this stage stale
    outputs: tuple[str, ...] = ()  # files (under the stage's folder) it promises to write
    all_ranks: bool = False  # training stages run on every DDP rank, the others on rank 0
    description: str = field(default="", compare=False)


_STAGES: dict[str, Stage] = {}


def register_stage(stage: Stage, *, before: str | None = None) -> Stage:
    """Add a stage at the end of the order (or just before `before`); its needs must already exist."""
    unknown = [n for n in (*stage.needs, *stage.uses) if n not in _STAGES]
    if unknown:
        raise ValueError(f"stage '{stage.name}' needs unknown stage '{unknown[0]}'")
    if stage.name in _STAGES:
        raise ValueError(f"a stage named '{stage.name}' is already registered")
    items = list(_STAGES.items())
    names = [name for name, _ in items]
    at = names.index(before) if before is not None else len(items)
    late = [n for n in (*stage.needs, *stage.uses) if names.index(n) >= at]
    if late:
        raise ValueError(f"stage '{stage.name}' must come after '{late[0]}', which it reads")
    items.insert(at, (stage.name, stage))
    _STAGES.clear()
    _STAGES.update(items)
    return stage


def unregister_stage(name: str) -> None:
    """Remove a stage (tests and plugins that add one temporarily)."""
    _STAGES.pop(name, None)


def stage_names() -> list[str]:
    """Registered stages in run order."""
    return list(_STAGES)


def get_stage(name: str) -> Stage:
    """The stage called `name`, or a one-line error listing the others."""
    if name not in _STAGES:
        raise UserInputError(f"unknown stage '{name}'; choose from {', '.join(_STAGES)}")
    return _STAGES[name]


def stage_digest(name: str, recipe: Recipe) -> str:
    """Hash of the recipe parts a stage depends on and of the digests of the stages it needs."""
    stage = get_stage(name)
    return section_hash(*(stage_digest(n, recipe) for n in stage.needs), *stage.parts(recipe).values())


def part_digests(name: str, recipe: Recipe) -> dict[str, str]:
    """A digest per recipe part the stage depends on, its needs' parts included (names what changed)."""
    stage = get_stage(name)
    digests: dict[str, str] = {}
    for need in stage.needs:
        digests.update(part_digests(need, recipe))
    digests.update({part: section_hash(value) for part, value in stage.parts(recipe).items()})
    return digests


def dependents(name: str) -> list[str]:
    """Every stage that needs or uses `name`, directly or through others, in run order."""
    found: set[str] = set()
    for other in _STAGES.values():  # run order: a stage's inputs come before it
        if name in (*other.needs, *other.uses) or found & {*other.needs, *other.uses}:
            found.add(other.name)
    return [n for n in _STAGES if n in found]
