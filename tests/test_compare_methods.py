"""The method-comparison script's `name@key=value` ablation syntax."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from compare_methods import method_overrides  # noqa: E402


def test_the_recipe_method_keeps_its_parameters_and_others_are_selected_by_name():
    assert method_overrides("ciard", "ciard") == ("ciard", [])
    assert method_overrides("rslad", "ciard") == ("rslad", ["method={name: rslad}"])


def test_parameters_after_at_become_method_overrides_and_name_the_run():
    suffix, overrides = method_overrides("ciard@push_scale=1@weights=adaptive", "ciard")
    assert suffix == "ciard-push_scale1-weightsadaptive"
    assert overrides == ["method.push_scale=1", "method.weights=adaptive"]


def test_a_parameter_without_a_value_is_one_clear_error():
    with pytest.raises(SystemExit, match="not key=value"):
        method_overrides("ciard@push_scale", "ciard")
