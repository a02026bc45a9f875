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
    with pytest.raises(BackendUnavailable, match=r"pip install './edge\[tensorrt\]'"):
        create_backend("tensorrt", good_bundle / "model.onnx")


@pytest.mark.tensorrt
@pytest.mark.parametrize("fmt", ["fp32", "fp16", "int8"])
def test_engine_matches_onnxruntime_and_is_cached(good_bundle: Path, tmp_path: Path, fmt: str) -> None:
    reason = _tensorrt_missing()
    if reason:
        pytest.skip(f"TensorRT test needs TensorRT and a CUDA device: {reason}")
    bundle = load_bundle(good_bundle)
    path = bundle.model_path(fmt, "tensorrt")  # int8: the symmetric file made for TensorRT
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


class _FakeTensorRT:
    """Records the builder calls build_serialized_engine makes (checks our wiring, not TensorRT itself)."""

    def __init__(self, version: str, parse_ok: bool = True, plan: bytes | None = b"plan") -> None:
        self.__version__ = version
        self.NetworkDefinitionCreationFlag = SimpleNamespace(STRONGLY_TYPED=5)
        self.MemoryPoolType = SimpleNamespace(WORKSPACE="workspace")
        self.calls: dict[str, list] = {"network": [], "profiles": [], "flags": [], "pool": []}
        fake = self

        class Profile:
            def set_shape(self, name, low, opt, high) -> None:
                fake.calls["profiles"].append((name, low, opt, high))

        class Config:
            def set_memory_pool_limit(self, pool, size) -> None:
                fake.calls["pool"].append((pool, size))

            def set_flag(self, flag) -> None:
                fake.calls["flags"].append(flag)

            def add_optimization_profile(self, profile) -> None:
                assert isinstance(profile, Profile)

        class Builder:
            def __init__(self, logger) -> None:
                pass

            def create_network(self, flags):
                fake.calls["network"].append(flags)
                return SimpleNamespace(get_input=lambda i: SimpleNamespace(name="input"))

            def create_builder_config(self):
                return Config()

            def create_optimization_profile(self):
                return Profile()

            def build_serialized_network(self, network, config):
                return plan

        class Parser:
            num_errors = 0 if parse_ok else 1

            def __init__(self, network, logger) -> None:
                pass

            def parse_from_file(self, path: str) -> bool:
                return parse_ok

            def get_error(self, i: int):
                return SimpleNamespace(desc=lambda: "Unsupported operator FancyOp")

        self.Builder, self.OnnxParser = Builder, Parser


@pytest.mark.parametrize(("version", "flags"), [("10.9.0", 1 << 5), ("11.4.0", 0)])
def test_engine_build_is_strongly_typed_with_one_profile_per_range(
    tmp_path: Path, version: str, flags: int
) -> None:
    from compressor_edge.backends.trt_build import build_serialized_engine

    trt = _FakeTensorRT(version)
    plan = build_serialized_engine(trt, None, tmp_path / "m.onnx", (3, 32, 32), [32, 1, 8], 1 << 28)
    assert plan == b"plan"
    assert trt.calls["network"] == [flags]
    assert trt.calls["flags"] == []  # no precision builder flag on either version: the ONNX types decide
    assert trt.calls["pool"] == [("workspace", 1 << 28)]
    assert trt.calls["profiles"] == [
        ("input", (1, 3, 32, 32), (1, 3, 32, 32), (1, 3, 32, 32)),
        ("input", (2, 3, 32, 32), (8, 3, 32, 32), (8, 3, 32, 32)),
        ("input", (9, 3, 32, 32), (32, 3, 32, 32), (32, 3, 32, 32)),
    ]


def test_engine_build_failures_are_one_line_bundle_errors(tmp_path: Path) -> None:
    from compressor_edge.backends.trt_build import build_serialized_engine

    with pytest.raises(BundleError, match="TensorRT cannot parse it \\(Unsupported operator FancyOp\\)"):
        build_serialized_engine(
            _FakeTensorRT("10.9.0", parse_ok=False), None, tmp_path / "m.onnx", (3, 8, 8), [1], 1
        )
    with pytest.raises(BundleError, match="failed to build an engine"):
        build_serialized_engine(
            _FakeTensorRT("11.4.0", plan=None), None, tmp_path / "m.onnx", (3, 8, 8), [1], 1
        )
