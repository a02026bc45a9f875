"""Malformed recipes fail with one clear line naming the place; good ones load with defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from compressor.config.loader import apply_override, parse_override
from compressor.errors import UserInputError
from compressor.recipe_loading import load_recipe


def _error(path: Path, overrides: tuple[str, ...] = ()) -> str:
    with pytest.raises(UserInputError) as info:
        load_recipe(path, list(overrides))
    message = str(info.value)
    assert "\n" not in message
    return message


def test_tiny_recipe_loads_with_defaults(tiny_recipe) -> None:
    recipe = load_recipe(tiny_recipe())
    assert recipe.method.name == "pgd_at"
    assert recipe.optim.momentum == 0.9 and recipe.train.precision == "auto"


def test_fractions_are_numbers(tiny_recipe) -> None:
    recipe = load_recipe(tiny_recipe(), ["attack.eps=8/255"])
    assert recipe.attack.eps == pytest.approx(8 / 255)


def test_unknown_key_suggests_nearest_with_line(tiny_recipe) -> None:
    path = tiny_recipe(train__epocks=3)
    message = _error(path)
    assert "unknown key 'train.epocks'" in message and "did you mean 'epochs'" in message
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "epocks" in text)
    assert f"{path}:{line}:" in message


def test_unknown_method_param_suggests(tiny_recipe) -> None:
    message = _error(tiny_recipe(method={"name": "trades", "betta": 3}))
    assert "did you mean 'beta'" in message


def test_wrong_type(tiny_recipe) -> None:
    assert "train.epochs" in _error(tiny_recipe(), ("train.epochs=many",))


def test_negative_eps(tiny_recipe) -> None:
    assert "attack.eps" in _error(tiny_recipe(), ("attack.eps=-0.1",))


def test_unknown_method(tiny_recipe) -> None:
    assert "unknown method 'ciardd'" in _error(tiny_recipe(), ("method.name=ciardd",))


def test_missing_teacher_role(tiny_recipe) -> None:
    assert "needs a robust" in _error(tiny_recipe(teachers=[]), ("method={name: rslad}",))


def test_yaml_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("run:\n  name: [unclosed\n")
    assert "YAML syntax error" in _error(path)


def test_missing_recipe_file(tmp_path: Path) -> None:
    assert "not found" in _error(tmp_path / "nope.yaml")


def test_override_parsing_and_lists() -> None:
    data = {"teachers": [{"role": "robust"}], "train": {}}
    apply_override(data, *parse_override("teachers.0.role=clean"))
    apply_override(data, *parse_override("train.epochs=5"))
    assert data == {"teachers": [{"role": "clean"}], "train": {"epochs": 5}}
    with pytest.raises(UserInputError):
        parse_override("train.epochs")


def test_verify_batch_sizes_are_positive_and_include_one(tiny_recipe) -> None:
    assert load_recipe(tiny_recipe()).verify.batch_sizes == [1, 32]
    assert "must include 1" in _error(tiny_recipe(), ("verify.batch_sizes=[32]",))
    assert "verify.batch_sizes" in _error(tiny_recipe(), ("verify.batch_sizes=[0,1]",))
    assert "export.tensorrt.batch_sizes" in _error(tiny_recipe(), ("export.tensorrt.batch_sizes=[]",))
