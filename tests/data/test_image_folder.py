"""ImageFolder data: validation carved from train/ and left out of training, through loading and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from compressor.cli.main import app
from compressor.config.schema import DataConfig
from compressor.data.loading import load_data

CLASSES = ["cat", "dog", "owl"]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """root/{train,val}/<class>/*.png: 20 train and 4 test images per class, each class its own colour."""
    root = tmp_path / "folder"
    rng = np.random.default_rng(0)
    for split, n in (("train", 20), ("val", 4)):
        for index, name in enumerate(CLASSES):
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 60, (12, 12, 3), dtype=np.uint8)
                pixels[..., index] += 180
                Image.fromarray(pixels).save(root / split / name / f"{i}.png")
    return root


def _rows(x: torch.Tensor) -> set[bytes]:
    return {bytes((row * 255).round().to(torch.uint8).numpy()) for row in x.flatten(1)}


@pytest.mark.parametrize(("fraction", "limit", "n_val", "n_train"), [(0.25, None, 15, 45), (0.2, 30, 6, 24)])
def test_validation_is_carved_from_train_and_not_trained_on(
    tree: Path, fraction: float, limit: int | None, n_val: int, n_train: int
) -> None:
    cfg = DataConfig(
        dataset="imagefolder", root=tree, image_size=12, val_fraction=fraction, limit_train=limit
    )
    data = load_data(cfg)
    assert data.class_names == CLASSES and len(data.test) == 12
    assert len(data.val) == n_val and len(data.folder_train) == n_train
    trained = torch.stack([data.folder_train[i][0] for i in range(len(data.folder_train))])
    assert not _rows(trained) & _rows(data.val.x), "a validation image is also trained on"


def test_image_folder_runs_through_the_cli(tree: Path, tiny_recipe, tmp_path: Path) -> None:
    recipe = tiny_recipe(
        data={
            "dataset": "imagefolder",
            "root": str(tree),
            "image_size": 12,
            "batch_size": 8,
            "num_workers": 0,
        },
    )
    overrides = ["train.epochs=1", "teachers.0.train.epochs=1", "teachers.1.train.epochs=1"]
    result = CliRunner().invoke(
        app, ["distill", str(recipe), *overrides, "--stages", "teachers,distill,evaluate"]
    )
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / "tiny"
    assert (run / "distill" / "best.safetensors").is_file() and (
        run / "evaluate" / "evaluation.json"
    ).is_file()


def test_an_image_folder_without_its_test_split_stops_before_compute(
    tree: Path, tiny_recipe, tmp_path: Path
) -> None:
    (tree / "val").rename(tree / "elsewhere")
    recipe = tiny_recipe(data={"dataset": "imagefolder", "root": str(tree), "image_size": 12})
    result = CliRunner().invoke(app, ["distill", str(recipe)])
    assert result.exit_code == 2 and "no val/ or test/ folder" in result.output
    assert not (tmp_path / "runs").exists()
