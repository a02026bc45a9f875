"""A stage of the pipeline and the registry that orders them.

A `Stage` says what it needs (stages whose outputs it reads and that must be up to date), what else it
reads (`uses`: it goes stale when they re-run), which recipe parts its digest covers, the files it writes
by name (`outputs`), and how to run on a `StageContext`, returning a `StageResult`. Adding a stage is one
`register_stage` call; the runner (`compressor.pipeline.run`) derives ordering, digests, input checks,
invalidation and gate failures from here, and anyone reads a stage's file through `stage_output` by the
name the stage declared, never by its path.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
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
from compressor.rundir import RunDir
from compressor.trackers import Trackers


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

    def output(self, stage: str, name: str, **keys: str) -> Path:
        """The file `stage` declared as output `name` in this run (see `stage_output`)."""
        return stage_output(self.run, stage, name, **keys)


@dataclass(frozen=True)
class StageResult:
    """What a stage returns: its summary, and whether its gate passed (a failed gate fails the run)."""

    summary: Any = None
    passed: bool = True
    failure: str = ""  # one line for the user when it did not pass


@dataclass(frozen=True)
class Stage:
    """One step of a run: its inputs, the recipe parts it depends on, its declared outputs and its work."""

    name: str
    run: Callable[[StageContext], StageResult]
    parts: Callable[[Recipe], dict[str, Any]]  # the recipe sections its digest covers, by YAML path
    needs: tuple[str, ...] = ()  # must be up to date before it runs; their digests are part of its own
    uses: tuple[str, ...] = ()  # read when present; re-running them makes this stage stale
    # its files by name, under the stage's folder: "{key}" patterns are one file per key (e.g. per teacher),
    # a trailing "/" names a folder
    outputs: Mapping[str, str] = field(default_factory=dict)
    optional: tuple[str, ...] = ()  # names of outputs written only when the recipe asks for them
    all_ranks: bool = False  # training stages run on every DDP rank, the others on rank 0
    command: str | None = None  # the `compressor` command that re-runs it alone on a run directory
    description: str = field(default="", compare=False)
    # whether the recipe asks anything of it (a stage that does not apply is skipped, and needing it is
    # satisfied: CLIP pre-training only where a model has a `pretrain:` section)
    applies: Callable[[Recipe], bool] = field(default=lambda recipe: True, compare=False)
    # how the recipe reads in a run where this stage's outputs are (CLIP pre-training: its weights become the
    # models' checkpoints); the runner applies every stage's in run order before any stage runs
    resolve_recipe: Callable[[Recipe, RunDir], Recipe] | None = field(default=None, compare=False)

    @property
    def promised(self) -> tuple[str, ...]:
        """The output files every finished run of this stage has (patterns and folders excepted)."""
        return tuple(
            path
            for name, path in self.outputs.items()
            if name not in self.optional and "{" not in path and not path.endswith("/")
        )


_STAGES: dict[str, Stage] = {}
_BUILT_IN = "compressor.pipeline.stages"  # one module per built-in stage, each declaring `STAGE`
_LOADED: list[str] = []  # the built-in stages were registered


def register_stage(stage: Stage, *, before: str | None = None) -> Stage:
    """Add a stage at the end of the order (or just before `before`); its needs must already exist."""
    stages = _registry()  # the built-in ones first, so a plugin's stage can come after them
    unknown = [n for n in (*stage.needs, *stage.uses) if n not in stages]
    if unknown:
        raise ValueError(f"stage '{stage.name}' needs unknown stage '{unknown[0]}'")
    if stage.name in stages:
        raise ValueError(f"a stage named '{stage.name}' is already registered")
    items = list(stages.items())
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


def _registry() -> dict[str, Stage]:
    """The registered stages, the built-in ones first (each module of `_BUILT_IN` declares one)."""
    if not _LOADED:
        _LOADED.append(_BUILT_IN)  # before registering: register_stage calls back here
        package = importlib.import_module(_BUILT_IN)
        names = [m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_")]
        for stage in _in_run_order([importlib.import_module(f"{_BUILT_IN}.{n}").STAGE for n in names]):
            register_stage(stage)
    return _STAGES


def _in_run_order(stages: list[Stage]) -> list[Stage]:
    """Each stage after the stages it reads (a topological order, ties broken by name)."""
    ordered: list[Stage] = []
    waiting = sorted(stages, key=lambda s: s.name)
    while waiting:
        placed = {s.name for s in ordered}
        ready = next((s for s in waiting if {*s.needs, *s.uses} <= placed), None)
        if ready is None:
            raise ValueError(f"stages read each other in a circle: {', '.join(s.name for s in waiting)}")
        ordered.append(ready)
        waiting.remove(ready)
    return ordered


def stage_names() -> list[str]:
    """Registered stages in run order."""
    return list(_registry())


def resolve_recipe(recipe: Recipe, run: RunDir) -> Recipe:
    """The recipe as the stages read it in `run` (each stage's `resolve_recipe`, in run order)."""
    for stage in _registry().values():
        if stage.resolve_recipe is not None:
            recipe = stage.resolve_recipe(recipe, run)
    return recipe


def stages_through(last: str) -> list[str]:
    """Registered stages in run order up to and including `last` (what a run needs to reach it)."""
    names = stage_names()
    return names[: names.index(get_stage(last).name) + 1]


def get_stage(name: str) -> Stage:
    """The stage called `name`, or a one-line error listing the others."""
    stages = _registry()
    if name not in stages:
        raise UserInputError(f"unknown stage '{name}'; choose from {', '.join(stages)}")
    return stages[name]


def stage_output(run: RunDir, stage: str, name: str, **keys: str) -> Path:
    """The path of the file `stage` declared as output `name` in `run` (`keys` fill a pattern's fields)."""
    declared = get_stage(stage).outputs
    if name not in declared:
        raise KeyError(f"stage '{stage}' declares no output '{name}' (it has: {', '.join(declared)})")
    return run.stage(stage) / declared[name].format(**keys)


def read_output(run: RunDir, stage: str, name: str) -> Any:
    """The JSON output `name` of `stage` in `run`, or None when that stage has not written it."""
    path = stage_output(run, stage, name)
    return json.loads(path.read_text()) if path.is_file() else None


def stage_digest(name: str, recipe: Recipe) -> str:
    """Hash of the recipe parts a stage depends on and of the digests of the stages it needs."""
    needs = applying_needs(name, recipe)
    return section_hash(*(stage_digest(n, recipe) for n in needs), *get_stage(name).parts(recipe).values())


def applying_needs(name: str, recipe: Recipe) -> tuple[str, ...]:
    """The stages `name` needs that apply to this recipe (the others are satisfied by not applying)."""
    return tuple(n for n in get_stage(name).needs if get_stage(n).applies(recipe))


def part_digests(name: str, recipe: Recipe) -> dict[str, str]:
    """A digest per recipe part the stage depends on, its needs' parts included (names what changed)."""
    digests: dict[str, str] = {}
    for need in applying_needs(name, recipe):
        digests.update(part_digests(need, recipe))
    digests.update({part: section_hash(value) for part, value in get_stage(name).parts(recipe).items()})
    return digests


def dependents(name: str) -> list[str]:
    """Every stage that needs or uses `name`, directly or through others, in run order."""
    found: set[str] = set()
    for other in _registry().values():  # run order: a stage's inputs come before it
        if name in (*other.needs, *other.uses) or found & {*other.needs, *other.uses}:
            found.add(other.name)
    return [n for n in _registry() if n in found]
