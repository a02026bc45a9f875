"""Users' own methods and attacks: modules a recipe names in `plugins:`, or packages with an entry point.

A plugin module registers with the same decorators the built-ins use (`register_params` + `register_method`,
`register_attack`). A recipe names importable modules only (installed, or on PYTHONPATH), never files, and
the resolved recipe in the run directory keeps the list, so `--resume` and `compressor evaluate RUN_DIR`
load the same code. Installed packages may instead declare an entry point in the group below.
"""

from __future__ import annotations

import importlib
import re
from importlib.metadata import entry_points
from typing import Any

from compressor.config.schema import include_new_methods
from compressor.errors import UserInputError

ENTRY_POINT_GROUP = "compressor.plugins"
_MODULE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def load_plugins(names: Any, where: str) -> None:
    """Import the recipe's plugin modules and every installed entry point, then extend the schema."""
    if names is None:
        names = []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise UserInputError(f"{where}: plugins: expected a list of module names, e.g. [my_methods]")
    for name in names:
        if not _MODULE_NAME.match(name):
            raise UserInputError(
                f"{where}: plugins: '{name}' is not a module name (installed or on PYTHONPATH; never a file)"
            )
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
    include_new_methods()
