"""Shell completion (Typer's own): the script installs, commands and shipped recipe names complete."""

from __future__ import annotations

import pytest
import typer.completion
from typer.testing import CliRunner

from compressor.cli.main import app

runner = CliRunner()


def _complete(words: str) -> list[str]:
    """What bash's completion function gets for the command line `words` (completing its last word)."""
    env = {
        "_COMPRESSOR_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - 1),
    }
    result = runner.invoke(app, [], prog_name="compressor", env=env)
    assert result.exit_code == 0, result.output
    return result.output.split()


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o default"),
        ("zsh", "#compdef compressor"),
        ("fish", "complete --command compressor"),
    ],
)
def test_the_completion_script_is_there_to_install(shell: str, marker: str, monkeypatch) -> None:
    # Typer detects the user's shell from the process tree (an argument after --show-completion is not read):
    # fixed here, so the test does not depend on what launched pytest
    monkeypatch.setattr(typer.completion, "_get_shell_name", lambda: shell)
    result = runner.invoke(app, ["--show-completion"], prog_name="compressor")
    assert result.exit_code == 0 and "_COMPRESSOR_COMPLETE" in result.output and marker in result.output
    assert "--install-completion" in runner.invoke(app, ["--help"]).output


def test_commands_and_shipped_recipe_names_complete() -> None:
    assert _complete("compressor dis") == ["distill"]
    assert _complete("compressor distill quick") == ["quickstart"]
    assert _complete("compressor validate ./nothing-by-that-name") == []  # the shell completes paths then
