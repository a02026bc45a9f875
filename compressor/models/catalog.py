"""The model zoo's catalog: importing it imports every module of compressor/models/zoo, which registers
their architectures in timm's registry, and lists them (all, and those small enough for smoke mode)."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import compressor.models.zoo as _zoo


def _zoo_modules() -> list[ModuleType]:
    """Every zoo module, imported (registering its models with timm)."""
    names = [m.name for m in pkgutil.iter_modules(_zoo.__path__) if not m.name.startswith("_")]
    return [importlib.import_module(f"{_zoo.__name__}.{name}") for name in names]


_MODULES = _zoo_modules()
ZOO_MODELS = tuple(sorted(name for m in _MODULES for name in m.default_cfgs))  # every architecture, timm name
SMOKE_MODELS = frozenset(
    name for m in _MODULES for name in getattr(m, "SMOKE_MODELS", ())
)  # smoke keeps these
