"""Backends by name: onnxruntime on CPU or CUDA, OpenVINO on the CPU, and TensorRT (engine built on this device)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from compressor_edge.backends.base import Backend
from compressor_edge.errors import BundleError

BACKENDS = ("onnxruntime-cpu", "onnxruntime-cuda", "openvino-cpu", "tensorrt")


def create_backend(
    name: str,
    onnx_path: Path,
    *,
    batch_sizes: Sequence[int] = (1, 32),
    cache_dir: Path | None = None,
    threads: int | None = None,
) -> Backend:
    """Load `onnx_path` on backend `name`; TensorRT builds (or reuses from `cache_dir`) an engine."""
    if name in ("onnxruntime-cpu", "onnxruntime-cuda"):
        from compressor_edge.backends.ort import OnnxRuntimeBackend

        return OnnxRuntimeBackend(onnx_path, device=name.rsplit("-", 1)[1], threads=threads)
    if name == "openvino-cpu":
        from compressor_edge.backends.openvino import OpenVINOBackend

        return OpenVINOBackend(onnx_path, threads=threads, batch_sizes=batch_sizes)
    if name == "tensorrt":
        from compressor_edge.backends.trt import TensorRTBackend

        return TensorRTBackend(onnx_path, batch_sizes=batch_sizes, cache_dir=cache_dir)
    raise BundleError(f"unknown backend '{name}' (expected one of: {', '.join(BACKENDS)})")


__all__ = ["BACKENDS", "Backend", "create_backend"]
