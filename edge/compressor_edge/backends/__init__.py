"""Backends by name: onnxruntime on CPU or CUDA, OpenVINO on the CPU, and TensorRT (engine built on this device).

Each backend module registers itself (registry.py); `BACKENDS` and `create_backend` derive from the registry.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from compressor_edge.backends.base import Backend
from compressor_edge.backends.registry import (
    BackendSpec,
    LoadOptions,
    backend_spec,
    backend_specs,
    backends_help,
    register,
)

BACKENDS: tuple[str, ...] = tuple(backend_specs())


def create_backend(
    name: str,
    onnx_path: Path,
    *,
    batch_sizes: Sequence[int] = (1, 32),
    cache_dir: Path | None = None,
    threads: int | None = None,
) -> Backend:
    """Load `onnx_path` on backend `name`; TensorRT builds (or reuses from `cache_dir`) an engine."""
    spec = backend_spec(name)
    spec.require()
    return spec.load(onnx_path, LoadOptions(tuple(batch_sizes), cache_dir, threads))


__all__ = [
    "BACKENDS",
    "Backend",
    "BackendSpec",
    "LoadOptions",
    "backend_spec",
    "backend_specs",
    "backends_help",
    "create_backend",
    "register",
]
