"""Users' own methods and attacks: modules a recipe names in `plugins:`, or packages with an entry point.

A plugin module registers with the same decorators the built-ins use (`register_params` + `register_method`,
`register_attack`). A recipe names importable modules only (installed, or on PYTHONPATH), never files, and
the resolved recipe in the run directory keeps the list, so `--resume` and `compressor evaluate RUN_DIR`
load the same code. Installed packages may instead declare an entry point in the group below.

A recipe (or a run directory received from someone else) cannot run code by itself: a module it names is
imported only when the user consents outside the recipe, the way Hugging Face asks for `trust_remote_code`:
`--allow-plugins NAME,...` on the command line, the environment variable below, or an installed entry point
(installing the package was the consent).
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Collection
from importlib.metadata import entry_points
from typing import Any

from compressor.config.bounded_yaml import excerpt
from compressor.errors import UserInputError

ENTRY_POINT_GROUP = "compressor.plugins"
ALLOW_ENV = "COMPRESSOR_ALLOW_PLUGINS"
_MODULE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def split_names(text: str | None) -> tuple[str, ...]:
    """`a, b.c` -> ("a", "b.c") (the form of `--allow-plugins` and of the environment variable)."""
    return tuple(name.strip() for name in (text or "").split(",") if name.strip())


def _consented(allowed: Collection[str]) -> set[str]:
    """Modules the user allowed: the flag's, the environment variable's, and installed entry points'."""
    installed = {point.module for point in entry_points(group=ENTRY_POINT_GROUP)}
    return {*allowed, *split_names(os.environ.get(ALLOW_ENV)), *installed}


def load_plugins(names: Any, where: str, allowed: Collection[str] = ()) -> None:
    """Import the recipe's plugin modules the user allowed and every installed entry point, then extend the
    schema; a module without consent is a one-line error before anything is imported."""
    if names is None:
        names = []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise UserInputError(f"{where}: plugins: expected a list of module names, e.g. [my_methods]")
    for name in names:
        if not _MODULE_NAME.match(name):
            raise UserInputError(
                f"{where}: plugins: {excerpt(name)} is not a module name (installed or on PYTHONPATH; never a file)"
            )
    consented = _consented(allowed) if names else set()
    refused = [name for name in names if name not in consented]
    if refused:
        raise UserInputError(
            f"{where}: plugins: module '{refused[0]}' was not loaded: a recipe runs no code without your "
            f"consent; if you trust it, pass --allow-plugins {','.join(refused)} "
            f"(or set {ALLOW_ENV}={','.join(refused)})"
        )
    for name in names:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name is None or not name.startswith(err.name):
                raise
            raise UserInputError(
                f"{where}: plugins: module '{name}' not found; install it or add its folder to PYTHONPATH"
            ) from None
    for point in entry_points(group=ENTRY_POINT_GROUP):
        point.load()
