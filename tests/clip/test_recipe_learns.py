"""The offline MMT-ARD recipe learns: its teachers and student classify, the student resists APGD, zero-shot works.

The shipped recipe (its CLIP pre-training as shipped) with a smaller budget (fewer TeCoA and distillation
epochs, fewer test images) and nothing else changed; a CLIP left at random init (the state issue 16 found:
every model at chance) fails each assertion here.

Zero-shot is checked where it can be told from chance: the student classifies digits through its own text
tower from the data set's class names, far above chance. MNIST transfer at this scale is too weak to assert
on (8x8 digits upscaled are far from MNIST's strokes): on the AMX Xeon this budget with the recipe's 20
distillation epochs scored 17.25% on the first 400 MNIST test images, where always naming their commonest
digit scores 14.2% (binomial p = 0.05); it is computed and recorded, not ranked.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from compressor.pipeline.run import run_pipeline
from compressor.recipe_loading import load_recipe

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "digits-clip-mmt-ard.yaml"
MNIST_ROOT = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.mark.slow
@pytest.mark.skipif(not (MNIST_ROOT / "MNIST").is_dir(), reason="needs the shared MNIST folder")
def test_digits_clip_mmt_ard_is_far_from_chance(tmp_path: Path) -> None:
    budget = [
        f"run.output_dir={tmp_path}",
        "teachers.0.train.epochs=4",
        "train.epochs=4",
        "evaluate.attacks=[apgd-ce]",
        "evaluate.num_images=100",
        "evaluate.sanity_checks=false",
        "evaluate.zero_shot=[{dataset: mnist, root: "
        f"{MNIST_ROOT}, image_size: 32, channels: 3, limit_test: 100}}, "
        "{dataset: digits, image_size: 32, channels: 3}]",
        "evaluate.zero_shot_eps=[4/255]",
    ]
    recipe = load_recipe(RECIPE, budget)
    run_pipeline(recipe, stages=["pretrain", "teachers", "distill", "evaluate"], console=Console(quiet=True))
    run = tmp_path / recipe.run.name
    teachers = {t["role"]: t for t in json.loads((run / "teachers" / "summary.json").read_text())}
    evaluation = json.loads((run / "evaluate" / "evaluation.json").read_text())
    zero_shot = json.loads((run / "evaluate" / "zero_shot.json").read_text())
    assert teachers["clean"]["test_clean"] > 0.6 and teachers["robust"]["test_clean"] > 0.6, teachers
    assert teachers["robust"]["test_pgd10"] > 0.3, teachers  # chance is 0.1
    assert evaluation["clean_accuracy"] > 0.6, evaluation
    assert evaluation["robust_accuracy"]["apgd-ce"] > 0.15, evaluation
    assert zero_shot["digits"]["clean"] > 0.6, zero_shot  # its own text tower, the set's class names
    mnist = zero_shot["mnist"]
    assert 0.0 <= mnist["robust@4/255"] <= mnist["clean"] <= 1.0, zero_shot
