"""Class names and prompt templates."""

from __future__ import annotations

import json

import pytest

from compressor.errors import UserInputError
from compressor.models.clip_text import (
    CIFAR_TEMPLATES,
    DIGIT_TEMPLATES,
    class_names_for,
    prompt_names,
    read_names,
    resolve_templates,
)


def test_builtin_class_lists():
    names = class_names_for("imagenet")
    assert len(names) == 1000 and names[0] == "tench"
    assert len(class_names_for("cifar100")) == 100 and class_names_for("cifar10")[0] == "airplane"
    assert class_names_for("mnist") == class_names_for("digits") == [str(i) for i in range(10)]
    with pytest.raises(UserInputError, match="known"):
        class_names_for("svhn")


def test_prompt_names_map_wordnet_ids_and_underscores():
    wnids = sorted(f"n{i:08d}" for i in range(1000))
    assert prompt_names(wnids) == class_names_for("imagenet")
    assert prompt_names(["aquarium_fish", "maple_tree"]) == ["aquarium fish", "maple tree"]


def test_default_templates_follow_the_class_list():
    assert len(resolve_templates("default", class_names_for("imagenet"))) == 80
    assert resolve_templates("default", class_names_for("cifar100")) == CIFAR_TEMPLATES
    assert len(CIFAR_TEMPLATES) == 18
    assert resolve_templates("default", class_names_for("digits")) == DIGIT_TEMPLATES
    assert resolve_templates("default", ["cat", "dog"]) == ("a photo of a {}.",)
    assert resolve_templates("released", ["cat"]) == ("This is a photo of a {}",)


def test_names_and_templates_from_files(tmp_path):
    (tmp_path / "names.txt").write_text("cat\n\n dog \n")
    (tmp_path / "names.json").write_text(json.dumps(["cat", "dog"]))
    assert read_names(tmp_path / "names.txt") == read_names(tmp_path / "names.json") == ["cat", "dog"]
    (tmp_path / "templates.txt").write_text("a {} photo\nart of {}\n")
    assert resolve_templates(str(tmp_path / "templates.txt"), ["cat"]) == ("a {} photo", "art of {}")
    (tmp_path / "bad.txt").write_text("no placeholder\n")
    with pytest.raises(UserInputError, match="exactly one"):
        resolve_templates(str(tmp_path / "bad.txt"), ["cat"])
    with pytest.raises(UserInputError, match="expected one of"):
        resolve_templates("nonsense", ["cat"])
