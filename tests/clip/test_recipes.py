"""The shipped MMT-ARD recipes validate and hold the published setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from compressor.recipe_loading import load_recipe

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


@pytest.mark.parametrize("name", ["imagenet-mmt-ard", "imagenet-mmt-ard-lora"])
def test_mmt_ard_recipes_hold_the_published_setting(name):
    recipe = load_recipe(RECIPES / f"{name}.yaml")
    assert recipe.method.name == "mmt_ard" and recipe.attack.eps == pytest.approx(2 / 255)
    assert recipe.attack.alpha == pytest.approx(1 / 255) and recipe.attack.steps == 10
    assert recipe.optim.name == "adamw" and recipe.optim.lr == pytest.approx(2e-5)
    assert recipe.train.epochs * recipe.train.max_steps_per_epoch == 5000 and recipe.data.batch_size == 512
    assert {t.role: t.model.name for t in recipe.teachers} == {"robust": "ViT-L-14", "clean": "ViT-L-14"}
    assert recipe.student.name == "ViT-B-32" and (recipe.student.lora is not None) == name.endswith("lora")
