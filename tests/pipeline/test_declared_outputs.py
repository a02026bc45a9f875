"""A stage's files are named where the stage declares them; everyone else asks for them by that name."""

from __future__ import annotations

import ast
from pathlib import Path

from compressor.pipeline.stage import get_stage, stage_names

PACKAGE = Path(__file__).resolve().parents[2] / "compressor"
STAGES = PACKAGE / "pipeline" / "stages"


def _sources() -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text()) for path in PACKAGE.rglob("*.py")}


def test_no_module_builds_another_stages_folder_by_hand() -> None:
    """`run.stage("evaluate")` outside the evaluate stage's module is a path the stage did not declare."""
    found = []
    for path, tree in _sources().items():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "stage"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and path != STAGES / f"{node.args[0].value}.py"
            ):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} stage({node.args[0].value!r})")
    assert found == []


def test_each_declared_file_name_is_written_where_it_is_declared() -> None:
    """A stage's output file name (e.g. "verify.json") is a literal only in the modules of the stages that
    declare it, or in one writer module whose constant they declare (evaluation.output.EVALUATION_FILE);
    everyone else asks `stage_output` by name."""
    declaring: dict[str, set[str]] = {}
    for stage in stage_names():
        for path in get_stage(stage).outputs.values():
            if "{" not in path and not path.endswith("/"):
                declaring.setdefault(path, set()).add(f"pipeline/stages/{stage}.py")
    modules: dict[str, set[str]] = {name: set() for name in declaring}
    for path, tree in _sources().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in declaring:
                modules[node.value].add(str(path.relative_to(PACKAGE)))
    for name, where in modules.items():
        outside = where - declaring[name]
        assert not outside or (len(outside) == 1 and not where & declaring[name]), (name, where)
