"""Build a TensorRT engine from a bundle's ONNX file on this device, and cache it beside the bundle.

Precision comes from the ONNX file itself, not from builder flags: the network is strongly typed, so the
fp16 ONNX gives fp16 kernels and the QDQ (int8) ONNX gives int8 kernels. TensorRT 11 removed the weak-typing
flags (BuilderFlag.FP16 / INT8, the INT8 calibrators) and makes every network strongly typed; TensorRT 10
needs NetworkDefinitionCreationFlag.STRONGLY_TYPED at creation for the same behaviour, and then refuses
precision builder flags, so neither version sets any.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from compressor_edge.errors import BackendUnavailable, BundleError


def import_tensorrt() -> Any:
    """Import tensorrt lazily, with one clear line when it is missing or too old."""
    try:
        import tensorrt as trt
    except ImportError:
        raise BackendUnavailable(
            "tensorrt backend: the 'tensorrt' package is not installed; run: pip install './edge[tensorrt]'"
        ) from None
    if trt_major(trt.__version__) < 10:
        raise BackendUnavailable(f"tensorrt backend: TensorRT >= 10 is required, found {trt.__version__}")
    return trt


def trt_major(version: str) -> int:
    """Major version number of a TensorRT version string."""
    return int(version.split(".", 1)[0])


def network_flags(trt: Any) -> int:
    """Creation flags for a strongly typed network on TensorRT 10 and 11."""
    if trt_major(trt.__version__) >= 11:
        return 0  # strong typing is the only mode; the creation flag is deprecated and ignored
    return 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)


def profile_ranges(batch_sizes: Sequence[int]) -> list[tuple[int, int, int]]:
    """(min, opt, max) batch per optimisation profile: adjacent ranges covering 1..max, tuned at their top."""
    sizes = sorted(set(int(b) for b in batch_sizes))
    if not sizes or sizes[0] < 1:
        raise BundleError(f"tensorrt backend: batch sizes must be positive integers, got {list(batch_sizes)}")
    ranges, low = [], 1
    for size in sizes:
        ranges.append((low, size, size))
        low = size + 1
    return ranges


def engine_cache_path(
    cache_dir: Path, onnx_sha256: str, device: str, trt_version: str, batch_sizes: Sequence[int]
) -> Path:
    """Cache file name keyed by ONNX content, device, TensorRT version and the profiles' batch sizes."""
    slug = re.sub(r"[^A-Za-z0-9.]+", "-", device).strip("-").lower()
    batches = "-".join(str(b) for b in sorted(set(batch_sizes)))
    return cache_dir / f"{onnx_sha256[:16]}_{slug}_trt{trt_version}_b{batches}.engine"


def build_serialized_engine(
    trt: Any,
    logger: Any,
    onnx_path: Path,
    input_shape: Sequence[int],
    batch_sizes: Sequence[int],
    workspace: int,
) -> bytes:
    """Parse the ONNX file into a strongly typed network and build a plan with one profile per range."""
    builder = trt.Builder(logger)
    network = builder.create_network(network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i).desc()) for i in range(parser.num_errors))
        raise BundleError(f"{onnx_path}: TensorRT cannot parse it ({errors or 'no detail'})")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace)
    name = network.get_input(0).name
    image = tuple(int(d) for d in input_shape)
    for low, opt, high in profile_ranges(batch_sizes):
        profile = builder.create_optimization_profile()
        profile.set_shape(name, (low, *image), (opt, *image), (high, *image))
        config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise BundleError(f"{onnx_path}: TensorRT failed to build an engine (see the TensorRT log above)")
    return bytes(plan)
