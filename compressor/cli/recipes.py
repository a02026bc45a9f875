"""Find the shipped recipes and resolve a recipe argument (a path or a shipped name)."""

from __future__ import annotations

from pathlib import Path

import yaml

SHIPPED = Path(__file__).resolve().parents[2] / "recipes"


def shipped_recipes() -> list[Path]:
    """The YAML recipes that ship with the toolkit."""
    return sorted(SHIPPED.glob("*.yaml")) if SHIPPED.is_dir() else []


def resolve_recipe(arg: str) -> Path:
    """A path as given, or the shipped recipe of that name (`quickstart` -> recipes/quickstart.yaml)."""
    path = Path(arg)
    if path.exists() or path.suffix in (".yaml", ".yml"):
        return path
    candidate = SHIPPED / f"{arg}.yaml"
    return candidate if candidate.is_file() else path


def describe(path: Path) -> str:
    """The first line of a recipe's description."""
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError:
        return "(invalid YAML)"
    return str(data.get("description", "")).strip().splitlines()[0] if data.get("description") else ""
