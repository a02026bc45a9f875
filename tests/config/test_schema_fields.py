"""No key that does nothing: every recipe field is read somewhere in the toolkit outside the schema."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from compressor.config.schema import Recipe
from compressor.methods import method_info, method_names

PACKAGE = Path(__file__).resolve().parents[2] / "compressor"
SCHEMA_FILES = {PACKAGE / "config" / "schema.py", PACKAGE / "config" / "methods.py"}
SOURCE = "\n".join(p.read_text() for p in PACKAGE.rglob("*.py") if p not in SCHEMA_FILES)


def _models(root: type[BaseModel]) -> list[type[BaseModel]]:
    """Every pydantic model reachable from `root`'s fields (sections, list items, unions)."""
    seen: list[type[BaseModel]] = []
    stack: list[object] = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, type) and issubclass(item, BaseModel):
            if item in seen:
                continue
            seen.append(item)
            stack.extend(f.annotation for f in item.model_fields.values())
        else:
            stack.extend(typing.get_args(item))
    return seen


MODELS = _models(Recipe) + [method_info(n).params for n in method_names()]
FIELDS = sorted({(m.__name__, f) for model in MODELS for m in [model] for f in model.model_fields})


@pytest.mark.parametrize(("model", "field"), FIELDS, ids=[f"{m}.{f}" for m, f in FIELDS])
def test_every_field_is_read(model: str, field: str) -> None:
    """Read as an attribute (`cfg.field`) or by key (`"field"`) somewhere in compressor/."""
    assert re.search(rf"\.{field}\b|[\"']{field}[\"']", SOURCE), f"{model}.{field} is accepted but never read"
