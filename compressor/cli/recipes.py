"""Find the shipped recipes and resolve a recipe argument (a path or a shipped name)."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import yaml


def shipped_dir() -> Path:
    """Where the shipped recipes are: inside the installed package, or the source tree's recipes/."""
    packaged = Path(str(resources.files("compressor"))) / "recipes"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "recipes"


def shipped_recipes() -> list[Path]:
    """The YAML recipes that ship with the toolkit."""
    folder = shipped_dir()
    return sorted(folder.glob("*.yaml")) if folder.is_dir() else []


def complete_recipe(incomplete: str) -> list[str]:
    """Shell completion for a recipe argument: the shipped names it starts (none: the shell completes paths)."""
    return [p.stem for p in shipped_recipes() if p.stem.startswith(incomplete)]


def resolve_recipe(arg: str) -> Path:
    """A path as given, or the shipped recipe of that name (`quickstart` -> recipes/quickstart.yaml)."""
    path = Path(arg)
    if path.exists() or path.suffix in (".yaml", ".yml"):
        return path
    candidate = shipped_dir() / f"{arg}.yaml"
    return candidate if candidate.is_file() else path


def describe(path: Path) -> str:
    """The first sentence of a recipe's description (the rest of the notes stay in the file)."""
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError:
        return "(invalid YAML)"
    text = " ".join(str(data.get("description", "") if isinstance(data, dict) else "").split())
    return re.split(r"(?<=[.])(?<!al\.)(?<!e\.g\.)\s+(?=[A-Z])", text, maxsplit=1)[0]


def recipe_lines(width: int) -> list[str]:
    """One line per shipped recipe, `name  first sentence`, cut to `width` characters."""
    recipes = shipped_recipes()
    pad = max((len(p.stem) for p in recipes), default=0) + 2
    lines = []
    for path in recipes:
        line = f"{path.stem:<{pad}}{describe(path)}".rstrip()
        lines.append(line if len(line) <= width else line[: width - 3].rstrip() + "...")
    return lines
