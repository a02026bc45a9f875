"""Check and convert export_bundle's arguments: one clear UserInputError per problem."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from compressor_edge.bundle import FORMATS, NORMS
from torch import Tensor

from compressor.errors import UserInputError

ArrayLike = Tensor | np.ndarray


def as_images(value: ArrayLike, what: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """float32 numpy [N, C, H, W] in [0, 1], matching `shape` (C, H, W) when given."""
    array = (
        value.detach().float().cpu().numpy() if isinstance(value, Tensor) else np.asarray(value, np.float32)
    )
    if array.ndim != 4 or array.shape[0] == 0:
        raise UserInputError(
            f"export: {what} must be a non-empty [N, C, H, W] batch, got shape {tuple(array.shape)}"
        )
    if shape is not None and tuple(array.shape[1:]) != tuple(shape):
        raise UserInputError(
            f"export: {what} have image shape {tuple(array.shape[1:])}, expected {tuple(shape)}"
        )
    if not np.isfinite(array).all() or array.min() < 0.0 or array.max() > 1.0:
        raise UserInputError(
            f"export: {what} must be finite pixels in [0, 1] (normalisation is inside the model)"
        )
    return np.ascontiguousarray(array, dtype=np.float32)


def as_labels(value: ArrayLike, n: int, n_classes: int) -> np.ndarray:
    """int64 labels [n] in [0, n_classes)."""
    labels = value.detach().cpu().numpy() if isinstance(value, Tensor) else np.asarray(value)
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
        raise UserInputError(f"export: probe_labels must be {n} integers, got {labels.dtype} {labels.shape}")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise UserInputError(f"export: probe_labels must lie in [0, {n_classes}) for {n_classes} class names")
    return labels.astype(np.int64)


def check_threat(clean: np.ndarray, adversarial: np.ndarray, eps: float, norm: str) -> None:
    """The adversarial probes must be the clean ones moved by at most eps (catches a wrong eps or order)."""
    if norm not in NORMS:
        raise UserInputError(f"export: norm must be one of {', '.join(NORMS)}, got {norm!r}")
    if not np.isfinite(eps) or eps < 0:
        raise UserInputError(f"export: eps must be a finite number >= 0, got {eps!r}")
    delta = (adversarial - clean).reshape(len(clean), -1)
    size = np.abs(delta).max(axis=1) if norm == "linf" else np.linalg.norm(delta, axis=1)
    if size.max() > eps * (1 + 1e-4) + 1e-5:
        raise UserInputError(
            f"export: an adversarial probe is {size.max():.4g} ({norm}) from its clean image, more than eps {eps:.4g}"
        )


def check_options(formats: Sequence[str], class_names: Sequence[str], metrics: Mapping[str, Any]) -> None:
    """Formats known and including fp32, class names unique, metrics JSON-serialisable."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or "fp32" not in formats:
        raise UserInputError(
            f"export.formats: must include fp32 and only {', '.join(FORMATS)}; got {list(formats)}"
        )
    if len(set(class_names)) != len(class_names) or not class_names:
        raise UserInputError("export: class_names must be a non-empty list of distinct names")
    try:
        json.dumps(dict(metrics))
    except (TypeError, ValueError) as err:
        raise UserInputError(f"export: pytorch_metrics must be JSON-serialisable ({err})") from None


def output_classes(model: torch.nn.Module, sample: np.ndarray) -> int:
    """Number of logits the model returns, checking the [B, K] contract."""
    with torch.inference_mode():
        out = model(torch.from_numpy(sample[:2]))
    if not isinstance(out, Tensor) or out.ndim != 2 or out.shape[0] != min(2, len(sample)):
        raise UserInputError("export: the model must return one logits tensor [B, K] for images [B, C, H, W]")
    return int(out.shape[1])
