"""The methods' parameters, by name: the table the recipe's `method:` sections are validated against.

`register_params` on a parameters class (a `compressor.config.methods.Params` subclass) joins a method by
the name in its `name` Literal, with what the recipe and the pipeline need to know: the teacher roles it
reads, whether it trains a model on its own, whether validation attacks. Each method registers here from
its own module (`compressor.methods.<name>`, next to its implementation), which
`compressor.methods.registry.load_methods` imports before a recipe is read; config imports none of them.
"""

from __future__ import annotations

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
    default_for: str | None = None  # the teacher role it trains when a recipe names no method (smoke mode)


_INFO: dict[str, MethodInfo] = {}


def _literal_name(cls: type[BaseModel]) -> str:
    field = cls.model_fields.get("name")
    args: tuple[Any, ...] = getattr(field.annotation, "__args__", ()) if field is not None else ()
    if len(args) != 1 or not isinstance(args[0], str):
        raise TypeError(f"{cls.__name__} needs a field `name: Literal['<method name>']`")
    return str(args[0])


def register_params(
    *,
    teacher_roles: tuple[str, ...] = (),
    single_model: bool = False,
    robust_validation: bool = True,
    default_for: str | None = None,
) -> Callable[[P], P]:
    """Class decorator on a parameters model: register the method named by its `name` Literal."""

    def decorate(cls: P) -> P:
        name = _literal_name(cls)
        if name in _INFO:
            raise ValueError(f"method '{name}' is already registered")
        _INFO[name] = MethodInfo(
            name, cls, tuple(teacher_roles), single_model, robust_validation, default_for
        )
        return cls

    return decorate


def method_info(name: str) -> MethodInfo:
    """The registered facts of one method (KeyError for an unknown name)."""
    return _INFO[name]


def method_names() -> list[str]:
    """Every method registered so far, by name."""
    return sorted(_INFO)
