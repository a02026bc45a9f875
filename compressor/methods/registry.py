"""The method registry, torch-free: each method's parameters class and what it needs, beside the class.

Two decorators join a method, as models join timm's registry:

    @register_params(teacher_roles=("robust",))      # torch-free: the recipe schema and `validate` read it
    class MyParams(Params):                           # compressor.config.methods.Params
        name: Literal["my_method"]

    @register_method                                  # the implementation (torch), `name = "my_method"`
    class MyMethod(Method): ...

The schema's `method:` union, the teacher roles a recipe must provide, which methods can train a teacher
on their own and whether validation attacks the model are all read from here. Built-in implementations
live in `compressor.methods.<module>` and load on first use; a user's own module joins by being named in
a recipe's `plugins:` list.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

P = TypeVar("P", bound=type[BaseModel])
M = TypeVar("M", bound=type)


@dataclass(frozen=True)
class MethodInfo:
    """What a recipe, `validate` and the pipeline need to know about a method, without torch."""

    name: str
    params: type[BaseModel]
    teacher_roles: tuple[str, ...] = ()  # teachers the method reads (KD: its `teacher` parameter)
    single_model: bool = False  # trains a model on its own, so it can train a teacher in the pipeline
    robust_validation: bool = True  # select checkpoints on robust accuracy under the training attack


_INFO: dict[str, MethodInfo] = {}
_IMPLEMENTATIONS: dict[str, type] = {}


def _literal_name(cls: type[BaseModel]) -> str:
    field = cls.model_fields.get("name")
    args: tuple[Any, ...] = getattr(field.annotation, "__args__", ()) if field is not None else ()
    if len(args) != 1 or not isinstance(args[0], str):
        raise TypeError(f"{cls.__name__} needs a field `name: Literal['<method name>']`")
    return str(args[0])


def register_params(
    *, teacher_roles: tuple[str, ...] = (), single_model: bool = False, robust_validation: bool = True
) -> Callable[[P], P]:
    """Class decorator on a parameters model: register the method named by its `name` Literal."""

    def decorate(cls: P) -> P:
        name = _literal_name(cls)
        if name in _INFO:
            raise ValueError(f"method '{name}' is already registered")
        _INFO[name] = MethodInfo(name, cls, tuple(teacher_roles), single_model, robust_validation)
        return cls

    return decorate


def register_method(cls: M) -> M:
    """Class decorator on a `Method`: the implementation of the registered method `cls.name`."""
    name = getattr(cls, "name", "")
    if name not in _INFO:
        raise ValueError(f"method {name!r} has no parameters class: decorate one with @register_params")
    if name in _IMPLEMENTATIONS:
        raise ValueError(f"method {name!r} already has an implementation")
    _IMPLEMENTATIONS[name] = cls
    return cls


def method_info(name: str) -> MethodInfo:
    """The registered facts of one method (KeyError for an unknown name)."""
    _builtin_params()
    return _INFO[name]


def method_names() -> list[str]:
    """Every registered method, in registration order."""
    _builtin_params()
    return list(_INFO)


def get_method(name: str) -> Any:
    """The `Method` class registered under `name` (imports the built-in implementations on first use)."""
    if name not in _IMPLEMENTATIONS:
        package = importlib.import_module("compressor.methods")
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"compressor.methods.{module.name}")
    if name not in _IMPLEMENTATIONS:
        raise KeyError(f"unknown method '{name}'; known: {', '.join(sorted(_IMPLEMENTATIONS))}")
    return _IMPLEMENTATIONS[name]


def _builtin_params() -> None:
    importlib.import_module("compressor.config.methods")  # registers the built-in parameters classes
