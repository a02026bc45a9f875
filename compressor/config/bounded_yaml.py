"""YAML read within bounds: a recipe file's size, its text encoding, and how far its aliases expand.

PyYAML shares one object per anchor, but everything downstream (line numbers, validation, the resolved
recipe written to the run) walks the expanded tree: a few hundred bytes of nested aliases (a "billion
laughs") would take minutes and gigabytes. A recipe is small, so anything past these bounds is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from compressor.errors import UserInputError

MAX_RECIPE_BYTES = 1 << 20  # a shipped recipe is a few kB
MAX_VALUES = 100_000  # YAML values once every alias is expanded (ImageNet-21k class names fit)
MAX_EXCERPT = 60  # characters of the input an error line may quote


class YamlSyntaxError(UserInputError):
    """The text is not YAML (an override's value is then taken as a plain string)."""


def excerpt(value: Any, limit: int = MAX_EXCERPT) -> str:
    """`repr(value)` cut to `limit` characters, so an error line never echoes a whole input."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def read_recipe_text(path: Path) -> str:
    """The recipe's text: at most `MAX_RECIPE_BYTES`, UTF-8, or a one-line error naming the file."""
    size = path.stat().st_size
    if size > MAX_RECIPE_BYTES:
        raise UserInputError(
            f"{path}: {size} bytes is too large for a recipe (at most {MAX_RECIPE_BYTES}); "
            "is this the right file?"
        )
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise UserInputError(
            f"{path}:{line}: not UTF-8 text (byte 0x{raw[err.start]:02x}); save the recipe as UTF-8"
        ) from None


def _expanded_size(node: yaml.Node, where: str) -> int:
    """How many values `node` holds with aliases expanded; refuses past `MAX_VALUES` or a cycle."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(item: yaml.Node) -> int:
        key = id(item)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise UserInputError(f"{where}: a YAML alias refers to itself; write the values out instead")
        open_nodes.add(key)
        children: list[yaml.Node] = []
        if isinstance(item, yaml.MappingNode):
            children = [n for pair in item.value for n in pair]
        elif isinstance(item, yaml.SequenceNode):
            children = list(item.value)
        total = 1
        for child in children:
            total += size(child)
            if total > MAX_VALUES:
                raise UserInputError(
                    f"{where}: YAML anchors and aliases expand to more than {MAX_VALUES} values; "
                    "a recipe needs far fewer: write the values out instead of nesting aliases"
                )
        open_nodes.discard(key)
        sizes[key] = total
        return total

    return size(node)


def load_bounded(text: str, where: str) -> tuple[yaml.Node | None, Any]:
    """Compose and load YAML `text` (one document); errors name `where` and quote nothing long."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None:
            _expanded_size(node, where)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"{where}:{mark.line + 1}" if mark else where
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise YamlSyntaxError(f"{at}: YAML syntax error: {problem[:200]}") from None
    except RecursionError:
        raise UserInputError(f"{where}: YAML nested too deeply for a recipe") from None
    return node, data
