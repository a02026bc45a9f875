"""TensorRT on an exported bundle (needs TensorRT and a CUDA device; skipped otherwise, never faked)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from compressor_edge import VerifyOptions, verify_bundle


def _missing() -> str | None:
    for module, package in (("tensorrt", "tensorrt"), ("cuda", "cuda-python")):
        if importlib.util.find_spec(module) is None:
            return f"{package} is not installed"
    from cuda.bindings import runtime as cudart

    err, count = cudart.cudaGetDeviceCount()
    return None if err == cudart.cudaError_t.cudaSuccess and count > 0 else "no CUDA device"


@pytest.mark.tensorrt
def test_tensorrt_engines_pass_verify(cnn_bundle: Path, tmp_path: Path) -> None:
    reason = _missing()
    if reason:
        pytest.skip(f"needs TensorRT and a CUDA device: {reason}")
    report = verify_bundle(
        cnn_bundle,
        backends=("onnxruntime-cpu", "tensorrt"),
        options=VerifyOptions(square_queries=100, batch_sizes=(1, 32), cache_dir=tmp_path),
    )
    print("\n" + report.to_markdown())
    assert report.passed, report.to_markdown()
    assert len(list(tmp_path.glob("*.engine"))) == 3
