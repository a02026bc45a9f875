"""Load a recipe: YAML with line numbers, command-line overrides, one-line errors with suggestions."""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from compressor.config.bounded_yaml import YamlSyntaxError, excerpt, load_bounded, read_recipe_text
from compressor.config.method_registry import method_names
from compressor.config.plugins import load_plugins
from compressor.config.schema import Recipe
from compressor.errors import UserInputError

Loc = tuple[str | int, ...]
MAX_KEY = 40  # characters of a key an error line quotes


def _line_map(root: yaml.Node) -> dict[Loc, int]:
    """Map every YAML path (keys and list indices) to its 1-based line number (a key's own line)."""
    lines: dict[Loc, int] = {}
    stack: list[tuple[Loc, yaml.Node]] = [((), root)]
    while stack:
        prefix, node = stack.pop()
        lines.setdefault(prefix, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                path = (*prefix, key.value)
                lines[path] = key.start_mark.line + 1
                stack.append((path, value))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(((*prefix, index), item) for index, item in enumerate(node.value))
    return lines


def parse_override(text: str) -> tuple[list[str | int], Any]:
    """Split ``a.b.0.c=value`` into a path and a YAML-parsed value."""
    if "=" not in text:
        raise UserInputError(f"override '{text}': expected KEY=VALUE, e.g. train.epochs=5")
    key, raw = text.split("=", 1)
    if not key:
        raise UserInputError(f"override {excerpt(text)}: the key before '=' is empty")
    try:
        value = load_bounded(raw, f"override {excerpt(key)}")[1] if raw else ""
    except YamlSyntaxError:
        value = raw
    return [int(p) if p.isdigit() else p for p in key.split(".")], value


def apply_override(data: dict[str, Any], path: list[str | int], value: Any) -> None:
    """Set ``value`` at ``path`` inside nested dicts / lists, creating dicts as needed."""
    node: Any = data
    for depth, part in enumerate(path[:-1]):
        if isinstance(node, list):
            if not isinstance(part, int) or part >= len(node):
                where = ".".join(map(str, path[: depth + 1]))
                raise UserInputError(f"override {where}: no such list entry")
            node = node[part]
        else:
            node = node.setdefault(part, {})
            if node is None:
                node = {}
    last = path[-1]
    settable = isinstance(node, dict) or (
        isinstance(node, list) and isinstance(last, int) and last < len(node)
    )
    if not settable:
        raise UserInputError(f"override {'.'.join(map(str, path))}: cannot set a value there")
    node[last] = value


def _child(node: Any, part: str | int) -> Any:
    """The value under a key or index, or None when there is none."""
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and part < len(node):
        return node[part]
    return None


def _fields_at(model: type[BaseModel], loc: Loc, data: Any) -> list[str]:
    """Valid keys of the section that ``loc`` points into (for 'did you mean' suggestions)."""
    current: Any = model
    node = data
    for part in loc[:-1]:
        node = _child(node, part)
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        field = fields.get(part) if isinstance(fields, dict) else None
        if field is None:
            return []
        current = _model_of(field.annotation, node)
    return list(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []


def _model_of(annotation: Any, node: Any) -> Any:
    """The BaseModel class inside an annotation (list item, optional, or tagged union member)."""
    candidates = []
    stack = [annotation]
    while stack:
        item = stack.pop()
        if isinstance(item, type) and issubclass(item, BaseModel):
            candidates.append(item)
        stack.extend(getattr(item, "__args__", ()) or ())
        origin = getattr(item, "__origin__", None)
        if origin is not None and hasattr(item, "__metadata__"):
            stack.append(origin)
    if len(candidates) > 1 and isinstance(node, dict):
        for cls in candidates:
            name_field = cls.model_fields.get("name")
            if name_field is not None and node.get("name") in getattr(name_field.annotation, "__args__", ()):
                return cls
    if not candidates:
        return None
    resolve = getattr(candidates[0], "resolve_for", None)  # a registry-dispatched section (method:)
    return resolve(node) if resolve is not None else candidates[0]


def _format_error(err: ValidationError, source: str, lines: dict[Loc, int], data: Any) -> str:
    first = err.errors()[0]
    tags = method_names()
    loc: Loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and p in tags))
    dotted = ".".join(str(p)[:MAX_KEY] for p in loc) or "(top level)"
    line = next((lines[loc[:n]] for n in range(len(loc), -1, -1) if loc[:n] in lines), None)
    where = f"{source}:{line}" if line else source
    kind = first["type"]
    if kind == "missing":
        return f"{where}: {dotted}: this required key is missing"
    if kind == "extra_forbidden":
        options = _fields_at(Recipe, loc, data)
        close = difflib.get_close_matches(str(loc[-1]), options, n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'?" if close else f"valid keys: {', '.join(options)}"
        return f"{where}: unknown key '{dotted}'; {hint}"
    if kind == "union_tag_invalid":
        tag = (
            str(first.get("input", {}).get("name", ""))[:MAX_KEY]
            if isinstance(first.get("input"), dict)
            else ""
        )
        close = difflib.get_close_matches(tag, tags, n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'?" if close else f"choose one of {', '.join(tags)}"
        return f"{where}: unknown method '{tag}' at '{dotted}'; {hint}"
    message = first["msg"].removeprefix("Value error, ")
    return f"{where}: {dotted}: {message} (got {excerpt(first.get('input'))})"


def _read(path: Path) -> tuple[dict[str, Any], dict[Loc, int]]:
    """A recipe file's data and the line of every key, within the loading bounds; one-line errors."""
    if not path.is_file():
        raise UserInputError(f"recipe '{path}' not found; `compressor recipes` lists the shipped ones")
    node, data = load_bounded(read_recipe_text(path), str(path))
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: a recipe is a YAML mapping of sections (run, data, student, ...)")
    return data, _line_map(node) if node is not None else {}


def _parse(
    data: dict[str, Any],
    source: str,
    lines: dict[Loc, int],
    overrides: Sequence[str],
    allow_plugins: Collection[str],
) -> Recipe:
    """Override, load the consented plugins and schema-validate recipe data; one-line errors."""
    for text_override in overrides:
        apply_override(data, *parse_override(text_override))
    where = f"{source}:{lines.get(('plugins',), 1)}" if lines else source
    load_plugins(data.get("plugins"), where, allow_plugins)
    try:
        return Recipe.model_validate(data)
    except ValidationError as err:
        raise UserInputError(_format_error(err, source, lines, data)) from None


def parse_recipe(
    path: str | Path, overrides: Sequence[str] = (), *, allow_plugins: Collection[str] = ()
) -> Recipe:
    """A recipe file read within the loading bounds, overridden, its consented plugins loaded and its schema
    validated; any problem is one `UserInputError` line (the semantic checks: `compressor.recipe_loading`)."""
    data, lines = _read(Path(path))
    return _parse(data, str(path), lines, overrides, allow_plugins)


def parse_recipe_data(
    data: Mapping[str, Any],
    overrides: Sequence[str] = (),
    *,
    source: str = "<recipe dict>",
    allow_plugins: Collection[str] = (),
) -> Recipe:
    """`parse_recipe` for a recipe given as a dict (Python API)."""
    if not isinstance(data, Mapping):
        raise UserInputError(f"{source}: a recipe is a mapping of sections (run, data, student, ...)")
    return _parse(copy.deepcopy(dict(data)), source, {}, overrides, allow_plugins)


def recipe_to_dict(recipe: Recipe) -> dict[str, Any]:
    """The resolved recipe as plain JSON-compatible data."""
    return recipe.model_dump(mode="json")


def save_resolved(recipe: Recipe, path: Path) -> None:
    """Write the resolved recipe (every default filled in) as YAML."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(recipe_to_dict(recipe), sort_keys=False))


def section_hash(*sections: Any) -> str:
    """A short stable hash of recipe sections (pydantic models or plain data)."""
    payload = [s.model_dump(mode="json") if isinstance(s, BaseModel) else s for s in sections]
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]
