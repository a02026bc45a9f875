"""The method registry's torch-free half: each method's parameters class and what it needs.

`register_params` on a parameters class (`compressor.config.methods.Params`) joins a method by the name in
its `name` Literal; the recipe's `method:` section, the teacher roles a recipe must provide, which methods
can train a teacher on their own and whether validation attacks the model are read from here. The
implementations (torch) join in `compressor.methods.registry`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

P = TypeVar("P", bound=type[BaseModel])


@dataclass(frozen=True)
class MethodInfo:
    """What a recipe, `validate` and the pipeline need to know about a method, without torch."""

    name: str
    params: type[BaseModel]
    teacher_roles: tuple[str, ...] = ()  # teachers the method reads (KD: its `teacher` parameter)
    single_model: bool = False  # trains a model on its own, so it can train a teacher in the pipeline
    robust_validation: bool = True  # select checkpoints on robust accuracy under the training attack


_INFO: dict[str, MethodInfo] = {}


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


def method_info(name: str) -> MethodInfo:
    """The registered facts of one method (KeyError for an unknown name)."""
    _builtin_params()
    return _INFO[name]


def method_names() -> list[str]:
    """Every registered method, in registration order."""
    _builtin_params()
    return list(_INFO)


def _builtin_params() -> None:
    importlib.import_module("compressor.config.methods")  # registers the built-in parameters classes
