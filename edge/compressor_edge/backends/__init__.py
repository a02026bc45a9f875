"""Backends by name: onnxruntime on CPU or CUDA, OpenVINO on the CPU, and TensorRT (engine built on this device).

Each backend module registers itself (registry.py); `BACKENDS` and `create_backend` derive from the registry.
"""

from __future__ import annotations

from compressor_edge.backends.base import Backend
from compressor_edge.backends.registry import (
    BackendSpec,
    LoadOptions,
    backend_spec,
    backend_specs,
    backends_help,
    create_backend,
    register,
)

BACKENDS: tuple[str, ...] = tuple(backend_specs())


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
