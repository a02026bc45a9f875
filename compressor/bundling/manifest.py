"""What the toolkit adds to the edge kit's manifest: versions, the PyTorch reference, the probe logits."""

from __future__ import annotations

import datetime
import importlib.metadata
import platform

import numpy as np
import torch
from torch import nn


def toolkit_versions() -> dict[str, str]:
    """Versions of everything that shaped the exported files."""
    names = ("torch", "onnx", "onnxruntime", "onnxscript", "numpy", "compressor", "compressor-edge")
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = _module_version(name)
    return versions


def _module_version(name: str) -> str:
    module = {"compressor": "compressor", "compressor-edge": "compressor_edge"}.get(name, name)
    try:
        return str(__import__(module).__version__)
    except (ImportError, AttributeError):
        return "not installed"


def utc_now() -> str:
    """ISO-8601 UTC timestamp, to the second."""
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


@torch.inference_mode()
def pytorch_logits(model: nn.Module, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """float32 logits of a CPU model on float32 images, in batches."""
    chunks = [
        model(torch.from_numpy(images[i : i + batch_size])).float().numpy()
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(chunks, axis=0)
