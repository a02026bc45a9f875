"""ImageFolder at the images' own size and channels, class folders mapped by name, through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from compressor.cli.main import app
from compressor.config.schema import DataConfig, ModelSpec
from compressor.data.loading import load_data
from compressor.evaluation.chance import SMOKE_NOTE, chance_warnings
from compressor.models.factory import create_classifier

CLASSES = ("cat", "dog", "owl")


def write_tree(
    root: Path,
    *,
    size: tuple[int, int] = (28, 28),
    mode: str = "L",
    train: int = 12,
    test: int = 4,
    test_classes: tuple[str, ...] = CLASSES,
    sizes: list[tuple[int, int]] | None = None,
) -> Path:
    """root/{train,val}/<class>/*.png; each class its own brightness, so the classes are learnable."""
    rng = np.random.default_rng(0)
    for split, n, classes in (("train", train, CLASSES), ("val", test, test_classes)):
        for name in classes:
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                w, h = sizes[i % len(sizes)] if sizes else size
                pixels = rng.integers(0, 60, (h, w, 3), dtype=np.uint8) + 60 * CLASSES.index(name)
                image = Image.fromarray(pixels.astype(np.uint8))
                image.convert(mode).save(root / split / name / f"{i}.png")
    return root


def _recipe(tiny_recipe, root: Path, **data: object) -> Path:
    section = {"dataset": "imagefolder", "root": str(root), "batch_size": 8, "num_workers": 0, **data}
    return tiny_recipe(data=section)


def _validate(recipe: Path, *overrides: str):
    return CliRunner().invoke(app, ["validate", str(recipe), *overrides])


def test_validate_says_what_each_split_holds(tmp_path: Path, tiny_recipe) -> None:
    grey = write_tree(tmp_path / "grey")
    result = _validate(_recipe(tiny_recipe, grey))
    assert result.exit_code == 0, result.output
    assert "data: train/: 3 classes, 36 images, 28x28, 1 channel (grey)" in result.output
    assert "data: val/: 3 classes, 12 images, 28x28, 1 channel (grey)" in result.output
    assert "models see 28x28, 1 channel; evaluation transform: none (images already 28x28)" in result.output
    rgb = write_tree(tmp_path / "rgb", size=(32, 32), mode="RGB")
    result = _validate(_recipe(tiny_recipe, rgb))
    assert result.exit_code == 0, result.output
    assert "train/: 3 classes, 36 images, 32x32, 3 channels (colour)" in result.output
    assert "models see 32x32, 3 channels" in result.output


def test_mixed_sizes_need_an_image_size(tmp_path: Path, tiny_recipe) -> None:
    root = write_tree(tmp_path / "mixed", sizes=[(28, 28), (40, 30)])
    result = _validate(_recipe(tiny_recipe, root))
    assert result.exit_code == 2 and "data.image_size" in result.output
    assert len(result.output.strip().splitlines()) == 1
    result = _validate(_recipe(tiny_recipe, root, image_size=24))
    assert result.exit_code == 0, result.output
    assert (
        "mixed sizes" in result.output and "resize the short side to 27, centre crop 24x24" in result.output
    )


def test_a_split_lacking_a_class_is_refused_then_mapped_by_name(tmp_path: Path, tiny_recipe) -> None:
    root = write_tree(tmp_path / "missing", test_classes=("cat", "owl"))
    result = _validate(_recipe(tiny_recipe, root))
    assert result.exit_code == 2, result.output
    assert "val/ lacks train's classes (dog)" in result.output and "allow_missing_classes" in result.output
    assert len(result.output.strip().splitlines()) == 1
    recipe = _recipe(tiny_recipe, root, allow_missing_classes=True)
    result = _validate(recipe)
    assert result.exit_code == 0 and "mapped by class name" in result.output
    data = load_data(DataConfig(dataset="imagefolder", root=root, allow_missing_classes=True))
    assert data.class_names == list(CLASSES)
    owl = data.test.y == CLASSES.index("owl")  # owl's label is train's index 2, not val's 1
    assert int(owl.sum()) == 4 and float(data.test.x[owl].mean()) > float(data.test.x[~owl].mean())


def test_a_split_with_an_unknown_class_is_refused(tmp_path: Path, tiny_recipe) -> None:
    root = write_tree(tmp_path / "extra")
    (root / "val" / "dog").rename(root / "val" / "fox")
    result = _validate(_recipe(tiny_recipe, root))
    assert result.exit_code == 2 and "val/ has classes train/ lacks (fox)" in result.output
    assert "lacks train's classes (dog)" in result.output


def test_grey_images_load_at_their_own_size_untouched(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "grey")
    data = load_data(DataConfig(dataset="imagefolder", root=root, image_size=28, eval_transform="auto"))
    assert (data.in_chans, data.image_size) == (1, 28) and data.test.x.shape[1:] == (1, 28, 28)
    first = sorted((root / "val" / "cat").glob("*.png"))
    pixels = {bytes(np.asarray(Image.open(p))) for p in first}
    cats = data.test.x[data.test.y == 0]
    assert {bytes((x[0] * 255).round().to(torch.uint8).numpy()) for x in cats} == pixels  # no resize or crop


def test_an_rgb_network_takes_grey_input_inside_the_model() -> None:
    spec = ModelSpec(name="tiny_cnn", kwargs={"in_chans": 3})
    model = create_classifier(spec, num_classes=3, in_chans=1).eval()
    grey = torch.rand(2, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(model(grey), model.net((grey.expand(-1, 3, -1, -1) - model.mean) / model.std))


def test_smoke_runs_on_the_users_own_images(tmp_path: Path, tiny_recipe) -> None:
    root = write_tree(tmp_path / "grey")
    recipe = _recipe(tiny_recipe, root)
    result = CliRunner().invoke(app, ["distill", str(recipe), "--smoke", "--stages", "teachers,distill"])
    assert result.exit_code == 0, result.output
    info = json.loads((tmp_path / "runs" / "tiny-smoke" / "data.json").read_text())
    assert info["dataset"] == "imagefolder" and (info["in_chans"], info["image_size"]) == (1, 28)
    assert "train/: 3 classes, 36 images, 28x28, 1 channel (grey)" in info["splits"]
    at_chance = chance_warnings([{"role": "robust", "test_clean": 0.3}], None, 3, smoke=True)
    assert at_chance[0].endswith(SMOKE_NOTE) and "expected in smoke mode" in SMOKE_NOTE


def test_a_grey_run_exports_a_one_channel_model_at_native_size(tmp_path: Path, tiny_recipe) -> None:
    root = write_tree(tmp_path / "grey")
    recipe = _recipe(tiny_recipe, root)
    result = CliRunner().invoke(app, ["distill", str(recipe), "train.epochs=1"])
    assert result.exit_code in (0, 1), result.output  # 1: a verification gate of a 1-epoch model
    run = tmp_path / "runs" / "tiny"
    info = json.loads((run / "data.json").read_text())
    assert (info["in_chans"], info["image_size"]) == (1, 28)
    assert info["eval_transform"] == "none (images already 28x28)"
    manifest = json.loads((run / "export" / "bundle" / "manifest.json").read_text())
    assert manifest["input"]["shape"][1:] == [1, 28, 28]
    resolved = (run / "recipe.yaml").read_text()
    assert "eval_transform: none" in resolved and "image_size: 28" in resolved and "channels: 1" in resolved
    assert "evaluation transform: none (images already 28x28)" in (run / "report" / "report.md").read_text()


@pytest.mark.parametrize("transform", ["resize", "resize_center_crop"])
def test_a_stated_transform_resizes(tmp_path: Path, transform: str) -> None:
    root = write_tree(tmp_path / "rgb", size=(32, 32), mode="RGB")
    data = load_data(DataConfig(dataset="imagefolder", root=root, image_size=16, eval_transform=transform))
    assert (data.in_chans, data.image_size) == (3, 16) and data.test.x.shape[1:] == (3, 16, 16)
