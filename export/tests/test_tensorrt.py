"""TensorRT backend: pure helpers always; engine build and parity only with TensorRT and a CUDA device."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from compressor_edge import BackendUnavailable, BundleError, create_backend, load_bundle
from compressor_edge.backends.trt_build import engine_cache_path, network_flags, profile_ranges


def test_profiles_cover_every_batch_up_to_the_largest() -> None:
    assert profile_ranges([32, 1, 8, 8]) == [(1, 1, 1), (2, 8, 8), (9, 32, 32)]
    with pytest.raises(BundleError, match="positive integers"):
        profile_ranges([0, 4])


def test_engine_cache_key_changes_with_device_version_model_and_batches(tmp_path: Path) -> None:
    base = engine_cache_path(tmp_path, "ab" * 32, "NVIDIA H100 80GB HBM3 sm90", "10.9.0", [1, 32])
    assert base.parent == tmp_path and base.suffix == ".engine"
    assert base.name == "abababababababab_nvidia-h100-80gb-hbm3-sm90_trt10.9.0_b1-32.engine"
    others = [
        engine_cache_path(tmp_path, "cd" * 32, "NVIDIA H100 80GB HBM3 sm90", "10.9.0", [1, 32]),
        engine_cache_path(tmp_path, "ab" * 32, "Orin sm87", "10.9.0", [1, 32]),
        engine_cache_path(tmp_path, "ab" * 32, "NVIDIA H100 80GB HBM3 sm90", "11.4.0", [1, 32]),
        engine_cache_path(tmp_path, "ab" * 32, "NVIDIA H100 80GB HBM3 sm90", "10.9.0", [1, 8, 32]),
    ]
    assert len({base, *others}) == 5


def test_network_is_strongly_typed_on_10_and_11() -> None:
    flag = SimpleNamespace(STRONGLY_TYPED=5)
    assert network_flags(SimpleNamespace(__version__="10.9.0", NetworkDefinitionCreationFlag=flag)) == 1 << 5
    assert network_flags(SimpleNamespace(__version__="11.4.0", NetworkDefinitionCreationFlag=flag)) == 0


def _tensorrt_missing() -> str | None:
    for module, package in (("tensorrt", "tensorrt"), ("cuda.bindings", "cuda-python")):
        try:
            if importlib.util.find_spec(module) is None:
                return f"{package} is not installed"
        except ModuleNotFoundError:
            return f"{package} is not installed"
    from cuda.bindings import runtime as cudart

    err, count = cudart.cudaGetDeviceCount()
    if err != cudart.cudaError_t.cudaSuccess or count < 1:
        return "no CUDA device"
    return None


def test_missing_tensorrt_is_reported_as_unavailable(good_bundle: Path) -> None:
    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("tensorrt is installed here")
    with pytest.raises(BackendUnavailable, match=r"pip install './export\[tensorrt\]'"):
        create_backend("tensorrt", good_bundle / "model.onnx")


@pytest.mark.tensorrt
@pytest.mark.parametrize("fmt", ["fp32", "fp16", "int8"])
def test_engine_matches_onnxruntime_and_is_cached(good_bundle: Path, tmp_path: Path, fmt: str) -> None:
    reason = _tensorrt_missing()
    if reason:
        pytest.skip(f"TensorRT test needs TensorRT and a CUDA device: {reason}")
    bundle = load_bundle(good_bundle)
    path = bundle.model_path(fmt)
    images = bundle.probes().clean_images
    with create_backend("onnxruntime-cpu", path) as ort_backend:
        expected = ort_backend.predict(images)
    with create_backend("tensorrt", path, batch_sizes=(1, 8, 32), cache_dir=tmp_path) as trt_backend:
        got = trt_backend.predict(
            images[:37]
        )  # 37 > 32: chunked, and the last chunk uses the (9..32) profile
        single = trt_backend.run(images[:1])
    engines = list(tmp_path.glob("*.engine"))
    assert len(engines) == 1
    mtime = engines[0].stat().st_mtime_ns
    with create_backend("tensorrt", path, batch_sizes=(1, 8, 32), cache_dir=tmp_path) as again:
        assert np.allclose(again.run(images[:3]), got[:3], atol=1e-5)
    assert engines[0].stat().st_mtime_ns == mtime  # reused, not rebuilt
    tolerance = {"fp32": 1e-3, "fp16": 5e-2, "int8": 0.5}[fmt]
    assert np.abs(got - expected[:37]).max() < tolerance
    assert np.abs(single - expected[:1]).max() < tolerance
    assert (got.argmax(1) == expected[:37].argmax(1)).mean() >= 0.95
