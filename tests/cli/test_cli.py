"""The CLI in-process: help texts, recipe listing, one-line errors with exit codes."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from compressor.attacks import attack_names
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


@pytest.mark.parametrize("attack", [*attack_names(), "pgd50", "pgd7-0.01", "cw40"])
def test_validate_accepts_the_attack_grammar(tiny_recipe, attack: str) -> None:
    """`validate` agrees with the attack registry: every name, and pgd<N>, pgd<N>-<step>, cw<N>."""
    result = runner.invoke(app, ["validate", str(tiny_recipe()), f"evaluate.attacks=[{attack}]"])
    assert result.exit_code == 0, result.output


def test_recipes_prints_one_line_per_recipe() -> None:
    from compressor.cli.recipes import shipped_recipes

    result = runner.invoke(app, ["recipes"], env={"COLUMNS": "100"})
    lines = result.output.splitlines()
    assert result.exit_code == 0 and len(lines) == len(shipped_recipes()) >= 9
    assert all(len(line) <= 100 for line in lines)
    assert {line.split()[0] for line in lines} == {p.stem for p in shipped_recipes()}


def test_a_shipped_recipe_resolves_by_name() -> None:
    from compressor.cli.recipes import resolve_recipe

    assert resolve_recipe("quickstart").name == "quickstart.yaml" and resolve_recipe("quickstart").is_file()


def test_a_missing_optional_package_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    from compressor.cli.errors import one_line_errors

    @one_line_errors
    def needs_tensorrt() -> None:
        raise ModuleNotFoundError("No module named 'tensorrt'", name="tensorrt")

    with pytest.raises(SystemExit) as exit_info:
        needs_tensorrt()
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1
    assert "'tensorrt'" in err[0] and "pip install 'compressor[tensorrt]'" in err[0]


def test_a_stage_without_its_input_writes_nothing(tiny_recipe, tmp_path) -> None:
    result = runner.invoke(app, ["distill", str(tiny_recipe()), "--stages", "distill"])
    assert result.exit_code == 2 and "needs the 'teachers' stage" in result.output
    assert not (tmp_path / "runs").exists()
