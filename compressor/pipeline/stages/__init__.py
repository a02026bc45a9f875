"""The built-in stages: every module here declares one `Stage` as `STAGE`, registered in an order where each
stage comes after those it needs or uses (ties by name). A new stage is one module."""

from __future__ import annotations

import importlib
import pkgutil

from compressor.pipeline.stage import Stage, register_stage


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


_modules = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
for _stage in _in_run_order([importlib.import_module(f"{__name__}.{m}").STAGE for m in _modules]):
    register_stage(_stage)
