"""One registry per kind: a method is its module plus its parameters class, and the registries load without torch."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from compressor.methods import get_method, method_info, method_names

PACKAGE = Path(__file__).resolve().parents[2] / "compressor"
# The CIARD paper also names a learning-rate schedule ("schedule: {name: ciard}"): a schedule, not a method.
OTHER_KINDS = {("ciard", "config/schema.py"), ("ciard", "engine/optim.py")}
# studies name the methods they compare, as recipes do: data, not wiring
STUDIES = "experiments/"


def _files_naming(name: str) -> list[str]:
    literal = re.compile(rf"[\"']{re.escape(name)}[\"']")
    found = [
        p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py") if literal.search(p.read_text())
    ]
    return [f for f in found if (name, f) not in OTHER_KINDS and not f.startswith(STUDIES)]


@pytest.mark.parametrize("name", method_names())
def test_a_method_is_named_in_at_most_two_files(name: str) -> None:
    """Its parameters class and its implementation; every list elsewhere is derived from the registry."""
    files = _files_naming(name)
    assert len(files) <= 2, f"'{name}' is wired by hand in {files}"


@pytest.mark.parametrize("name", method_names())
def test_every_registered_method_has_an_implementation(name: str) -> None:
    cls = get_method(name)
    assert cls.name == name and method_info(name).params.model_fields["name"].annotation.__args__ == (name,)


def test_single_model_methods_need_no_teacher() -> None:
    for name in method_names():
        info = method_info(name)
        assert not (info.single_model and info.teacher_roles), name


def test_registries_and_cli_import_without_torch() -> None:
    """`compressor --help` and the schema stay fast: importing them and the registries costs no torch
    (looking a method or an attack up imports their modules, which are torch)."""
    code = (
        "import sys, compressor.cli.main, compressor.config.schema, compressor.attacks, compressor.methods;"
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("method", "roles"),
    [
        ({"name": "ciard"}, ("robust", "clean")),
        ({"name": "kd", "teacher": "robust"}, ("robust",)),
        ({"name": "mmt_ard", "clean_teacher": "robust"}, ("robust",)),
        ({"name": "pgd_at"}, ()),
    ],
)
def test_the_teachers_a_recipe_needs_come_from_the_method(
    method: dict[str, str], roles: tuple[str, ...]
) -> None:
    from compressor.config.schema import Recipe

    teacher = {"model": {"name": "tiny_cnn"}, "train": {"method": {"name": "natural"}}}
    recipe = {"student": {"name": "tiny_cnn"}, "method": method}
    Recipe.model_validate({**recipe, "teachers": [{"role": r, **teacher} for r in roles]})
    if roles:
        with pytest.raises(ValueError, match=f"needs a {roles[-1]} teacher"):
            Recipe.model_validate({**recipe, "teachers": [{"role": r, **teacher} for r in roles[:-1]]})
