"""The method registry: one module per method, joined with two decorators, as models join timm's registry.

    @register_params(teacher_roles=("robust",))      # its recipe parameters (compressor.config.methods.Params)
    class MyParams(Params):
        name: Literal["my_method"]

    @register_method                                  # the implementation, `name = "my_method"`
    class MyMethod(Method): ...

Both live in the method's module: `compressor/methods/<name>.py` for a built-in one (`load_methods` imports
them all), a user's own module named in a recipe's `plugins:` list otherwise. The parameters table is
`compressor.config.method_registry` (the schema reads it; config imports no method); this module holds the
implementations and loads the built-in modules before anyone asks for a method.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, TypeVar

from compressor.config import method_registry
from compressor.config.method_registry import MethodInfo, register_params

__all__ = [
    "MethodInfo",
    "get_method",
    "load_methods",
    "method_info",
    "method_names",
    "register_method",
    "register_params",
]

M = TypeVar("M", bound=type)

_IMPLEMENTATIONS: dict[str, type] = {}
_BUILT_IN = "compressor.methods"
_LOADED: list[str] = []  # the built-in method modules were imported


def load_methods() -> None:
    """Import every module of the methods package once: each registers its parameters and implementation."""
    if _LOADED:
        return
    _LOADED.append(_BUILT_IN)  # first: a module that imports another method module must not recurse
    package = importlib.import_module(_BUILT_IN)
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{_BUILT_IN}.{module.name}")


def method_info(name: str) -> MethodInfo:
    """The registered facts of one method, built-in ones loaded (KeyError for an unknown name)."""
    load_methods()
    return method_registry.method_info(name)


def method_names() -> list[str]:
    """Every registered method, built-in ones loaded, by name."""
    load_methods()
    return method_registry.method_names()


def register_method(cls: M) -> M:
    """Class decorator on a `Method`: the implementation of the registered method `cls.name`."""
    name = getattr(cls, "name", "")
    if name not in method_registry.method_names():
        raise ValueError(f"method {name!r} has no parameters class: decorate one with @register_params")
    if name in _IMPLEMENTATIONS:
        raise ValueError(f"method {name!r} already has an implementation")
    _IMPLEMENTATIONS[name] = cls
    return cls


def get_method(name: str) -> Any:
    """The `Method` class registered under `name` (imports the built-in implementations on first use)."""
    load_methods()
    if name not in _IMPLEMENTATIONS:
        raise KeyError(f"unknown method '{name}'; known: {', '.join(sorted(_IMPLEMENTATIONS))}")
    return _IMPLEMENTATIONS[name]
