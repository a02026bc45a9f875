"""Recipes as every command loads them: parsed and schema-validated by `compressor.config` (a leaf), then
every semantic check (`compressor.recipe_checks`), which reaches into the registries of data sets, models,
attacks, runtime backends and trackers."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from compressor.config import parse_recipe
from compressor.config.loader import parse_recipe_data
from compressor.config.schema import Recipe
from compressor.methods.registry import load_methods
from compressor.recipe_checks import check_recipe


def validate_recipe(
    path: str | Path,
    overrides: Sequence[str] = (),
    *,
    on_this_machine: bool = False,
    allow_plugins: Collection[str] = (),
) -> tuple[Recipe, list[str]]:
    """The one recipe check (schema, then every semantic check); returns the recipe and its warnings.

    `compressor validate` is this function; every command loads its recipe through it. With
    ``on_this_machine`` (a run about to start here) missing data folders or runtimes are errors too.
    ``allow_plugins``: the modules of its `plugins:` the user consented to (see `config.plugins`).
    """
    load_methods()  # the built-in methods' parameters, which the schema validates `method:` against
    recipe = parse_recipe(path, overrides, allow_plugins=allow_plugins)
    return recipe, check_recipe(recipe, str(path), on_this_machine=on_this_machine)


def validate_recipe_data(
    data: Mapping[str, Any],
    overrides: Sequence[str] = (),
    *,
    source: str = "<recipe dict>",
    on_this_machine: bool = False,
    allow_plugins: Collection[str] = (),
) -> tuple[Recipe, list[str]]:
    """`validate_recipe` for a recipe given as a dict (Python API): the same plugins, schema and checks."""
    load_methods()
    recipe = parse_recipe_data(data, overrides, source=source, allow_plugins=allow_plugins)
    return recipe, check_recipe(recipe, source, on_this_machine=on_this_machine)


def load_recipe(
    path: str | Path, overrides: Sequence[str] = (), *, allow_plugins: Collection[str] = ()
) -> Recipe:
    """A fully checked recipe (warnings dropped); any problem is one `UserInputError` line."""
    return validate_recipe(path, overrides, allow_plugins=allow_plugins)[0]
