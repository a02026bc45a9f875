"""A run's trained models, rebuilt from the files its stages declared (teachers' and student's weights)."""

from __future__ import annotations

import json
from typing import Any

import torch
from torch import nn

from compressor.config.schema import Recipe
from compressor.engine.precision import Speed
from compressor.models.build import build_model, freeze
from compressor.pipeline.stage import stage_output
from compressor.rundir import RunDir


def load_data_info(run: RunDir) -> dict[str, Any]:
    """What the run's data looked like (classes, channels, size), as its first stage recorded it."""
    return json.loads(run.data_info.read_text())


def load_teachers(recipe: Recipe, run: RunDir, info: dict[str, Any], speed: Speed) -> dict[str, nn.Module]:
    """The prepared teachers of a run, frozen, on the device."""
    teachers: dict[str, nn.Module] = {}
    for spec in recipe.teachers:
        weights = stage_output(run, "teachers", "weights", role=spec.role)
        model = build_model(spec.model, info, weights, speed.device)
        teachers[spec.role] = freeze(speed.prepare(model))
    return teachers


def load_student(
    run: RunDir, recipe: Recipe, device: torch.device | str = "cpu", which: str = "best"
) -> nn.Module:
    """The distilled student of a run (`which`: "best" on validation or "last"), in eval mode."""
    weights = stage_output(run, "distill", which)
    return build_model(recipe.student, load_data_info(run), weights, device).to(device).eval()
