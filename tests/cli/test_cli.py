"""The CLI in-process: help texts, recipe listing, one-line errors with exit codes."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from compressor.cli.main import app

runner = CliRunner()


@pytest.mark.parametrize(
    "command", [[], ["distill"], ["validate"], ["evaluate"], ["export"], ["verify"], ["recipes"]]
)
def test_help_explains_every_command(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_distill_help_lists_options() -> None:
    output = runner.invoke(app, ["distill", "--help"]).output
    for option in ("--stages", "--resume", "--force", "--nproc-per-node"):
        assert option in output


def test_recipes_lists_quickstart() -> None:
    result = runner.invoke(app, ["recipes"])
    assert result.exit_code == 0 and "quickstart" in result.output


def test_validate_bad_recipe_is_one_line_exit_2(tiny_recipe) -> None:
    result = runner.invoke(app, ["validate", str(tiny_recipe(train__epocks=1))])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["student.name=resnet_nonexistent"], "unknown timm model"),
        (["student.checkpoint=/nope/weights.safetensors"], "not found"),
        (["evaluate.attacks=[pgd21x]"], "unknown attack"),
    ],
)
def test_validate_semantic_errors(tiny_recipe, overrides: list[str], needle: str) -> None:
    result = runner.invoke(app, ["validate", str(tiny_recipe()), *overrides])
    assert result.exit_code == 2 and needle in result.output


def test_validate_good_recipe(tiny_recipe) -> None:
    result = runner.invoke(app, ["validate", str(tiny_recipe())])
    assert result.exit_code == 0, result.output


def test_unknown_stage_is_bad_input(tiny_recipe) -> None:
    result = runner.invoke(app, ["distill", str(tiny_recipe()), "--stages", "teachers,distil"])
    assert result.exit_code == 2 and "unknown stage 'distil'" in result.output


def test_missing_data_folder_is_a_warning_not_an_error(tiny_recipe) -> None:
    result = runner.invoke(
        app, ["validate", str(tiny_recipe()), "data.dataset=mnist", "data.root=/nope/data"]
    )
    assert result.exit_code == 0 and "warning" in result.output and "/nope/data" in result.output


@pytest.mark.parametrize("attack", ["pgd50", "pgd7-0.01", "cw40"])
def test_validate_accepts_the_attack_grammar(tiny_recipe, attack: str) -> None:
    """`validate` agrees with the attack registry: pgd<N>, pgd<N>-<step> and cw<N> are valid names."""
    result = runner.invoke(app, ["validate", str(tiny_recipe()), f"evaluate.attacks=[{attack}]"])
    assert result.exit_code == 0, result.output
