"""A user's own method and attack, from their own module named in `plugins:`, run through the real CLI."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from compressor.attacks import registry as attacks
from compressor.cli.main import app
from compressor.config import method_registry
from compressor.methods import registry as methods

PLUGIN = """
from typing import Literal

import torch.nn.functional as F

from compressor.attacks import register_attack
from compressor.attacks.fgsm import fgsm
from compressor.config.methods import Params
from compressor.methods import register_method, register_params
from compressor.methods.base import Method, StepOutput


@register_params(single_model=True, robust_validation=False)
class LabelSmoothingParams(Params):
    name: Literal["my_smooth"]
    smoothing: float = 0.1


@register_method
class LabelSmoothing(Method):
    name = "my_smooth"

    def adversarial(self, x, y):
        return None

    def loss(self, x, y, x_adv):
        ce = F.cross_entropy(self.student(x).float(), y, label_smoothing=self.params.smoothing)
        return StepOutput(ce, {"ce": ce.detach()})


@register_attack("my-fgsm", description="FGSM under another name")
def my_fgsm(model, x, y, *, eps, norm="linf", seed=0):
    return fgsm(model, x, y, eps=eps, norm=norm, seed=seed)
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Write the plugin module onto sys.path; unregister it afterwards."""
    folder = tmp_path / "plugin_src"
    folder.mkdir()
    (folder / "my_compressor_plugin.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(folder))
    before = (set(method_registry._INFO), set(methods._IMPLEMENTATIONS), set(attacks._REGISTRY))
    yield "my_compressor_plugin"
    tables = (method_registry._INFO, methods._IMPLEMENTATIONS, attacks._REGISTRY)
    for table, keys in zip(tables, before, strict=True):
        for key in set(table) - keys:
            del table[key]
    sys.modules.pop("my_compressor_plugin", None)


def test_plugin_method_and_attack_validate_and_train(tiny_recipe, tmp_path: Path, plugin: str) -> None:
    recipe = tiny_recipe(plugins=[plugin], method={"name": "my_smooth", "smoothing": 0.2}, teachers=[])
    overrides = ["evaluate.attacks=[my-fgsm]", "train.epochs=1", "train.max_steps_per_epoch=2"]
    consent = ["--allow-plugins", plugin]
    result = CliRunner().invoke(app, ["validate", str(recipe), *overrides, *consent])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(
        app, ["distill", str(recipe), *overrides, *consent, "--stages", "teachers,distill,evaluate"]
    )
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / "tiny"
    assert (run / "distill" / "best.safetensors").is_file()
    assert "my-fgsm" in (run / "evaluate" / "evaluation.json").read_text()
    sys.modules.pop(plugin)  # a run directory's recipe asks for consent again, as any recipe does
    for command in ("evaluate", "export", "verify"):
        result = CliRunner().invoke(app, [command, str(run)])
        assert result.exit_code == 2 and f"module '{plugin}' was not loaded" in result.output, result.output
        assert plugin not in sys.modules


@pytest.mark.parametrize("name", ["this", "antigravity"])
def test_a_recipe_runs_no_code_without_consent(tiny_recipe, name: str) -> None:
    """`plugins: [this]` would print the Zen of Python; without consent nothing is imported."""
    sys.modules.pop(name, None)
    result = CliRunner().invoke(app, ["validate", str(tiny_recipe(plugins=[name]))])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, lines
    assert f"module '{name}' was not loaded" in lines[0] and f"--allow-plugins {name}" in lines[0], lines
    assert name not in sys.modules


def test_consent_by_environment_variable(tiny_recipe, plugin: str, monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = tiny_recipe(plugins=[plugin], method={"name": "my_smooth"}, teachers=[])
    monkeypatch.setenv("COMPRESSOR_ALLOW_PLUGINS", f"other_module, {plugin}")
    result = CliRunner().invoke(app, ["validate", str(recipe)])
    assert result.exit_code == 0, result.output


def test_plugin_parameters_are_checked_like_built_ins(tiny_recipe, plugin: str) -> None:
    recipe = tiny_recipe(plugins=[plugin], method={"name": "my_smooth", "smoothnes": 0.2}, teachers=[])
    result = CliRunner().invoke(app, ["validate", str(recipe), "--allow-plugins", plugin])
    assert result.exit_code == 2 and "did you mean 'smoothing'" in result.output


@pytest.mark.parametrize(
    ("plugins", "needle"),
    [
        ("[no_such_plugin_zz9]", "module 'no_such_plugin_zz9' not found"),
        ("[../evil.py]", "not a module name"),
    ],
)
def test_a_missing_plugin_is_one_line(tiny_recipe, plugins: str, needle: str) -> None:
    consent = ["--allow-plugins", "no_such_plugin_zz9"]
    result = CliRunner().invoke(app, ["validate", str(tiny_recipe()), f"plugins={plugins}", *consent])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and needle in lines[0], lines


def test_an_installed_entry_point_registers_without_a_plugins_key(
    tiny_recipe, plugin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from importlib.metadata import EntryPoint

    from compressor.config import plugins

    point = EntryPoint(name="mine", value=plugin, group=plugins.ENTRY_POINT_GROUP)
    monkeypatch.setattr(plugins, "entry_points", lambda group: [point] if group == point.group else [])
    recipe = tiny_recipe(method={"name": "my_smooth"}, teachers=[])
    result = CliRunner().invoke(app, ["validate", str(recipe), "evaluate.attacks=[my-fgsm]"])
    assert result.exit_code == 0, result.output
