"""Shared fixtures: tiny recipes that run in seconds on a CPU."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import yaml

from compressor.methods import load_methods

load_methods()  # as reading a recipe does: tests that build a Recipe directly need the built-in methods

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

TINY_RECIPE = {
    "description": "tiny test recipe",
    "run": {"name": "tiny", "seed": 0, "device": "cpu"},
    "data": {"dataset": "digits", "batch_size": 64, "limit_train": 320, "limit_test": 64},
    "teachers": [
        {
            "role": "robust",
            "model": {"name": "tiny_cnn"},
            "train": {"method": {"name": "pgd_at"}, "epochs": 1, "optim": {"lr": 0.05}},
        },
        {
            "role": "clean",
            "model": {"name": "tiny_cnn"},
            "train": {"method": {"name": "natural"}, "epochs": 1, "optim": {"lr": 0.05}},
        },
    ],
    "student": {"name": "tiny_cnn"},
    "method": {"name": "pgd_at"},
    "attack": {"eps": 0.1, "alpha": 0.025, "steps": 3},
    "optim": {"lr": 0.05},
    "train": {"epochs": 2, "log_every": 2, "allow_chance_teacher": True},  # 1-epoch teachers may be at chance
    "evaluate": {"attacks": ["pgd20"], "num_images": 64, "sanity_checks": False},
    "export": {"formats": ["fp32"], "calibration_images": 32, "num_probes": 32},
    "verify": {"square_queries": 10},
}


@pytest.fixture(autouse=True)
def _small_threads() -> None:
    torch.set_num_threads(2)


@pytest.fixture
def tiny_recipe(tmp_path: Path):
    """Write the tiny recipe (with optional changes) into tmp_path and return its path."""

    def write(**changes: object) -> Path:
        data = yaml.safe_load(yaml.safe_dump(TINY_RECIPE))
        data["run"]["output_dir"] = str(tmp_path / "runs")
        for dotted, value in changes.items():
            node = data
            *parents, last = dotted.split("__")
            for part in parents:
                node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
            node[last] = value
        path = tmp_path / "recipe.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return write


@pytest.fixture
def distill_command():
    """`compressor distill RECIPE --stages teachers,distill EXTRA...` as a subprocess argument list."""

    def command(recipe: Path, *extra: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "compressor.cli.main",
            "distill",
            str(recipe),
            "--stages",
            "teachers,distill",
            *extra,
        ]

    return command
