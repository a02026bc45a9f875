"""Contrastive pre-training on class-name captions: the text tower learns the class words, zero-shot works."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from compressor.config.schema import DataConfig, ModelSpec, Recipe
from compressor.data.loading import load_data
from compressor.data.sources import as_float
from compressor.models.clip import build_clip_classifier
from compressor.models.clip_pretrain import contrastive_loss, with_pretrain_checkpoints
from compressor.pipeline.run import run_pipeline


def test_contrastive_loss_is_low_when_images_match_their_class_caption() -> None:
    text = torch.eye(3)
    y = torch.tensor([0, 1, 2, 2])
    scale = torch.tensor(20.0)
    aligned = contrastive_loss(text[y], text, y, scale)
    shuffled = contrastive_loss(text[(y + 1) % 3], text, y, scale)
    floor = torch.log(torch.tensor(2.0)) / 3 / 2  # caption 2 has two images: its target is 1/2 each
    assert abs(aligned - floor) < 1e-3 and shuffled > 5.0


def test_the_loss_ignores_classes_absent_from_the_batch() -> None:
    text = F.normalize(torch.randn(5, 8), dim=-1)
    y = torch.tensor([0, 0, 1])
    loss = contrastive_loss(text[y], text, y, torch.tensor(10.0))
    assert torch.isfinite(loss)


def test_recipes_point_each_pretraining_model_at_one_file(tmp_path: Path) -> None:
    model = {"source": "open_clip", "name": "compressor-tiny-vit", "pretrain": {"epochs": 2}}
    recipe = Recipe.model_validate(
        {
            "teachers": [{"role": "clean", "model": model}, {"role": "robust", "model": model}],
            "student": {**model, "name": "compressor-tiny-vit-s"},
            "method": {"name": "mmt_ard"},
        }
    )
    resolved = with_pretrain_checkpoints(recipe, lambda key: tmp_path / f"{key}.safetensors")
    clean, robust = (t.model.checkpoint for t in resolved.teachers)
    assert clean == robust and clean is not None and clean.parent == tmp_path
    assert resolved.student.checkpoint not in (None, clean)
    assert (
        with_pretrain_checkpoints(resolved, lambda key: tmp_path / "elsewhere") == resolved
    )  # a set file stays


@functools.cache
def _digits():  # type: ignore[no-untyped-def]
    return load_data(DataConfig(dataset="digits", image_size=32, channels=3), 0)


def _pretraining_recipe(tmp_path: Path, epochs: int) -> Recipe:
    clip = {"source": "open_clip", "name": "compressor-tiny-rn", "pretrain": {"epochs": epochs, "lr": 3e-3}}
    return Recipe.model_validate(
        {
            "run": {"name": "pre", "output_dir": str(tmp_path), "device": "cpu"},
            "data": {"dataset": "digits", "image_size": 32, "channels": 3},
            "teachers": [],
            "student": clip,  # converges in fewer steps than the tiny ViT
            "method": {"name": "tecoa"},
        }
    )


def test_the_pretrain_stage_applies_only_where_a_model_pretrains(tmp_path: Path) -> None:
    from compressor.pipeline.stage import get_stage, stage_digest

    stage = get_stage("pretrain")
    with_clip = _pretraining_recipe(tmp_path, 1)
    without = with_clip.model_copy(update={"student": ModelSpec(name="tiny_cnn")})
    assert stage.applies(with_clip) and not stage.applies(without)
    # a recipe without pre-training keeps the digests it had before the stage existed
    before = stage_digest("distill", without)
    assert stage_digest("distill", without.model_copy(update={"description": "x"})) == before
    assert "pretrain" in get_stage("distill").needs


@pytest.mark.slow
def test_pretraining_makes_a_zero_shot_classifier_far_above_chance(tmp_path: Path) -> None:
    data = _digits()
    recipe = _pretraining_recipe(tmp_path, 5)
    run_pipeline(recipe, stages=["pretrain"])
    stage_dir = tmp_path / "pre" / "pretrain"
    (weights,) = stage_dir.glob("compressor-tiny-rn-*.safetensors")
    summary = json.loads((stage_dir / "summary.json").read_text())
    assert summary[0]["zero_shot_val"] > 0.6  # the trainer's validation: zero-shot accuracy of the kept epoch
    assert (stage_dir / weights.stem / "metrics.jsonl").is_file()  # trained by the one trainer
    spec = ModelSpec(source="open_clip", name="compressor-tiny-rn", checkpoint=weights)
    torch.manual_seed(123)  # a different random text tower: the checkpoint must replace it
    model = build_clip_classifier(spec, data.class_names).eval()
    with torch.no_grad():
        x = as_float(data.test.x)
        accuracy = float((model(x).argmax(1) == data.test.y).float().mean())
    assert accuracy > 0.6, accuracy  # chance is 0.1; a random-init CLIP stays there
    mnist_head = model.with_classes(["zero", "one"])  # the text tower travels with the classifier
    assert mnist_head.text_matrix.shape == (2, 32)
    stamp = weights.stat().st_mtime_ns
    run_pipeline(recipe, stages=["pretrain"], force=True)  # forced: the stage runs, the file is reused
    assert weights.stat().st_mtime_ns == stamp
    assert json.loads((stage_dir / "summary.json").read_text())[0]["reused"] is True


def test_no_random_init_warning_when_a_checkpoint_follows(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    import open_clip

    from compressor.models.clip_pretrain import save_clip
    from compressor.models.clip_tiny import register_tiny_clips

    register_tiny_clips()

    save_clip(open_clip.create_model("compressor-tiny-rn"), tmp_path / "clip.safetensors")
    caplog.clear()
    spec = ModelSpec(source="open_clip", name="compressor-tiny-rn", checkpoint=tmp_path / "clip.safetensors")
    build_clip_classifier(spec, ["a", "b"])
    assert "initialized randomly" not in caplog.text
    build_clip_classifier(ModelSpec(source="open_clip", name="compressor-tiny-rn"), ["a", "b"])
    assert "initialized randomly" in caplog.text  # without a file it is random, and open_clip says so
