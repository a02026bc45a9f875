"""Hostile recipe files through `compressor validate`: bounded time, exit 2, one short line naming the file."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from compressor.cli.main import app

# Runs `compressor validate FILE` in a child process and reports the seconds the command itself took
# (the imports before it are not timed): the child is killed if it runs away, the test fails if it is slow.
CHILD = textwrap.dedent(
    """
    import sys, time
    from compressor.cli.main import app
    start = time.perf_counter()
    try:
        app(["validate", *sys.argv[1:]])
    except SystemExit as done:
        code = done.code
    print(f"SECONDS {time.perf_counter() - start:.3f} EXIT {code}", file=sys.stderr)
    """
)
SECONDS_ALLOWED = 5.0


def _alias_bomb(levels: int, tail: str = "") -> str:
    """`levels` lists of 9 aliases to the level below: 9**levels values once expanded, a few hundred bytes."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n" + tail


def _validate_in_child(*args: str) -> tuple[int, float, list[str]]:
    """(exit code, seconds the command took, the lines it printed) of `compressor validate ARGS`."""
    done = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, timeout=300)
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    report = next(line for line in lines if line.startswith("SECONDS"))
    _, seconds, _, code = report.split()
    return int(code), float(seconds), [line for line in lines if line != report]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("billion_laughs", _alias_bomb(9)),
        ("seven_levels_in_a_field", _alias_bomb(7, "student: {name: *a6}\nmethod: {name: pgd_at}\n")),
    ],
)
def test_an_alias_bomb_is_refused_in_seconds(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    assert len(text) < 600  # a few hundred bytes that would expand to millions of values
    code, seconds, lines = _validate_in_child(str(path))
    assert code == 2 and len(lines) == 1 and len(lines[0]) < 300, lines
    assert str(path) in lines[0] and "aliases expand" in lines[0], lines
    assert seconds < SECONDS_ALLOWED, f"validate took {seconds:.1f} s"


def test_an_alias_bomb_in_an_override_is_refused_in_seconds(tiny_recipe) -> None:
    bomb = "{" + _alias_bomb(8).replace("\n", ", ").rstrip(", ") + "}"
    code, seconds, lines = _validate_in_child(str(tiny_recipe()), f"description={bomb}")
    assert code == 2 and len(lines) == 1 and "aliases expand" in lines[0], lines
    assert seconds < SECONDS_ALLOWED, f"validate took {seconds:.1f} s"


def _one_line(path: Path) -> str:
    result = CliRunner().invoke(app, ["validate", str(path)])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"a: &a [*a]\n", "refers to itself"),
        (b"a: " + b"[" * 50_000 + b"]" * 50_000 + b"\n", "nested too deeply"),
        (b"description: caf\xe9\nstudent: {name: tiny_cnn}\n", ":1: not UTF-8 text"),
        (b"description: '" + b"x" * (1 << 20) + b"'\n", "too large for a recipe"),
    ],
    ids=["self-alias", "deep", "latin-1", "oversized"],
)
def test_a_malformed_file_is_one_line_naming_it(tmp_path: Path, content: bytes, needle: str) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_bytes(content)
    line = _one_line(path)
    assert str(path) in line and needle in line and len(line) < 300, line


def test_a_missing_key_quotes_no_more_than_an_excerpt(tmp_path: Path) -> None:
    path = tmp_path / "no_student.yaml"
    path.write_text(f"description: {'x' * 5000}\nmethod: {{name: pgd_at}}\n")
    line = _one_line(path)
    assert "student: this required key is missing" in line and len(line) < 300, line


def test_a_long_wrong_value_is_quoted_as_an_excerpt(tiny_recipe) -> None:
    result = CliRunner().invoke(app, ["validate", str(tiny_recipe()), f"train.epochs={'9' * 5000}x"])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and len(lines[0]) < 300, lines


def test_an_unusually_large_budget_warns(tiny_recipe) -> None:
    result = CliRunner().invoke(app, ["validate", str(tiny_recipe()), "attack.eps=0.6"])
    assert result.exit_code == 0, result.output
    assert (
        "warning:" in result.output and "attack.eps: 0.6 is an unusually large L-inf radius" in result.output
    )
