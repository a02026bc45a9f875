"""Build a recipe's models (fresh, or with saved weights) for every stage, command and benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from compressor.config.schema import ModelSpec
from compressor.data.bundle import DataBundle
from compressor.models.factory import create_classifier
from compressor.models.weights import load_weights


def data_info(data: DataBundle) -> dict[str, Any]:
    """What a model needs to be rebuilt without loading the data set, and what was found in the data."""
    return {
        "class_names": data.class_names,
        "in_chans": data.in_chans,
        "image_size": data.image_size,
        **data.record,
    }


def build_model(
    spec: ModelSpec,
    info: dict[str, Any],
    weights: Path | None = None,
    device: torch.device | str | None = None,
) -> nn.Module:
    """A [0,1]-input classifier for the recipe's data, optionally with saved weights (CLIP heads built on `device`)."""
    model = create_classifier(
        spec,
        num_classes=len(info["class_names"]),
        in_chans=info["in_chans"],
        class_names=info["class_names"],
        device=device,
    )
    if weights is not None:
        load_weights(model, weights)
    return model


def freeze(model: nn.Module) -> nn.Module:
    """Eval mode, no parameter gradients: how teachers are used unless a method retrains one."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
