"""The recipe's `method:` section: the base of every method's parameters, validated by the name it gives.

A method's parameters class lives in its own module (`compressor.methods.<name>`) and registers with
`register_params`; the schema validates a `method:` mapping as the class its `name` registered. Unknown keys
are rejected like everywhere else in a recipe.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, SerializeAsAny
from pydantic_core import PydanticCustomError

from compressor.config.method_registry import method_info, method_names


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Params(_Strict):
    """Base of every method's parameters (a user's own method subclasses it too)."""

    name: str

    def needed_teachers(self) -> tuple[str, ...]:
        """The teacher roles the recipe must provide for this method."""
        return method_info(self.name).teacher_roles

    @classmethod
    def resolve_for(cls, data: Any) -> type[Params]:
        """The registered parameters class a `method:` mapping names (this class when it names none)."""
        name = data.get("name") if isinstance(data, Mapping) else None
        return method_info(name).params if name in method_names() else cls  # type: ignore[return-value]


def parse_method(value: Any) -> Any:
    """A `method:` mapping validated as the parameters class its `name` registered, whenever that was.

    A second pass through the registry (no schema rebuilt when a plugin registers a method later); an
    unknown name is pydantic's `union_tag_invalid` error, which the loader turns into a did-you-mean line.
    """
    if not isinstance(value, Mapping) or not isinstance(value.get("name"), str):
        return value  # not a method mapping: Params' own validation says what is wrong
    if value["name"] not in method_names():
        raise PydanticCustomError(
            "union_tag_invalid",
            "unknown method {tag}",
            {"tag": value["name"], "expected_tags": ", ".join(method_names())},
        )
    return method_info(value["name"]).params.model_validate(value)


def single_model_methods() -> list[str]:
    """Methods that train one model on their own (so they can train a teacher)."""
    return [name for name in method_names() if method_info(name).single_model]


if TYPE_CHECKING:
    MethodParams = Params
else:  # serialised as the registered class, with all its fields
    MethodParams = Annotated[SerializeAsAny[Params], BeforeValidator(parse_method)]
