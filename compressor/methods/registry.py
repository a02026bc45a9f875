"""The method registry: two decorators join a method, as models join timm's registry.

    @register_params(teacher_roles=("robust",))      # torch-free: the recipe schema and `validate` read it
    class MyParams(Params):                           # compressor.config.methods.Params
        name: Literal["my_method"]

    @register_method                                  # the implementation (torch), `name = "my_method"`
    class MyMethod(Method): ...

The parameters half lives in `compressor.config.method_registry` (config stays torch-free and imports nothing
from here); this module holds the implementations. Built-in ones live in `compressor.methods.<module>` and
load on first use; a user's own module joins by being named in a recipe's `plugins:` list.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, TypeVar

from compressor.config.method_registry import MethodInfo, method_info, method_names, register_params

__all__ = ["MethodInfo", "get_method", "method_info", "method_names", "register_method", "register_params"]

M = TypeVar("M", bound=type)

_IMPLEMENTATIONS: dict[str, type] = {}


def register_method(cls: M) -> M:
    """Class decorator on a `Method`: the implementation of the registered method `cls.name`."""
    name = getattr(cls, "name", "")
    if name not in method_names():
        raise ValueError(f"method {name!r} has no parameters class: decorate one with @register_params")
    if name in _IMPLEMENTATIONS:
        raise ValueError(f"method {name!r} already has an implementation")
    _IMPLEMENTATIONS[name] = cls
    return cls


def get_method(name: str) -> Any:
    """The `Method` class registered under `name` (imports the built-in implementations on first use)."""
    if name not in _IMPLEMENTATIONS:
        package = importlib.import_module("compressor.methods")
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"compressor.methods.{module.name}")
    if name not in _IMPLEMENTATIONS:
        raise KeyError(f"unknown method '{name}'; known: {', '.join(sorted(_IMPLEMENTATIONS))}")
    return _IMPLEMENTATIONS[name]
