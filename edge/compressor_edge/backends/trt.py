"""TensorRT backend: one execution context per optimisation profile, device buffers via cuda-python."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from compressor_edge.backends.base import Backend
from compressor_edge.backends.registry import BackendSpec, LoadOptions, register
from compressor_edge.backends.trt_build import (
    build_serialized_engine,
    engine_cache_path,
    import_tensorrt,
    profile_ranges,
)
from compressor_edge.errors import BackendUnavailable, BundleError
from compressor_edge.files import atomic_write_bytes, sha256_file


def _import_cudart() -> Any:
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        raise BackendUnavailable(f"tensorrt backend: cuda-python is not installed; {SPEC.install}") from None
    return cudart


def _ok(cudart: Any, result: Any) -> Any:
    """Unwrap a cuda-python (error, *values) tuple, raising on any CUDA error."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if err != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA call failed: {err}")
    return values[0] if len(values) == 1 else values


class TensorRTBackend(Backend):
    """Runs a TensorRT engine built on this GPU from the ONNX file (cached as `<cache_dir>/*.engine`)."""

    name = "tensorrt"

    def __init__(
        self,
        onnx_path: Path,
        *,
        batch_sizes: Sequence[int] = (1, 32),
        cache_dir: Path | None = None,
        workspace: int = 1 << 30,
    ) -> None:
        SPEC.require()
        trt = import_tensorrt()
        cudart = self._cudart = _import_cudart()
        count = cudart.cudaGetDeviceCount()
        if count[0] != cudart.cudaError_t.cudaSuccess or count[1] < 1:
            raise BackendUnavailable("tensorrt backend: no CUDA device is visible")
        props = _ok(cudart, cudart.cudaGetDeviceProperties(0))
        gpu = props.name.decode(errors="replace") if isinstance(props.name, bytes) else str(props.name)
        self._device = f"{gpu} sm{props.major}{props.minor}"
        self._trt_version = trt.__version__
        self._ranges = profile_ranges(batch_sizes)
        self.max_batch = self._ranges[-1][2]
        self._buffers: list[int] = []
        self._stream = _ok(cudart, cudart.cudaStreamCreate())
        self._workspace = workspace
        logger = trt.Logger(trt.Logger.WARNING)
        cache = engine_cache_path(
            Path(cache_dir or onnx_path.parent / "engines"),
            sha256_file(onnx_path),
            self._device,
            trt.__version__,
            batch_sizes,
        )
        self._runtime = trt.Runtime(logger)
        self.engine_path = cache
        self._engine = self._load_or_build(trt, logger, onnx_path, cache)
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        modes = {n: self._engine.get_tensor_mode(n) for n in names}
        self._input = next(n for n in names if modes[n] == trt.TensorIOMode.INPUT)
        self._output = next(n for n in names if modes[n] == trt.TensorIOMode.OUTPUT)
        for tensor in (self._input, self._output):
            if self._engine.get_tensor_dtype(tensor) != trt.float32:
                raise BundleError(f"tensorrt backend: engine tensor {tensor!r} is not float32")
        self._image_shape = tuple(self._engine.get_tensor_shape(self._input))[1:]
        self._contexts = [self._make_context(index) for index in range(len(self._ranges))]

    def _load_or_build(self, trt: Any, logger: Any, onnx_path: Path, cache: Path) -> Any:
        if cache.is_file():
            engine = self._runtime.deserialize_cuda_engine(cache.read_bytes())
            if engine is not None:
                return engine
        import onnx

        graph_input = onnx.load(str(onnx_path), load_external_data=False).graph.input[0]
        image = [d.dim_value for d in graph_input.type.tensor_type.shape.dim][1:]
        batches = [r[2] for r in self._ranges]
        plan = build_serialized_engine(trt, logger, onnx_path, image, batches, self._workspace)
        atomic_write_bytes(cache, plan)
        return self._runtime.deserialize_cuda_engine(plan)

    def _make_context(self, index: int) -> Any:
        cudart = self._cudart
        context = self._engine.create_execution_context()
        context.set_optimization_profile_async(index, int(self._stream))
        high = self._ranges[index][2]
        context.set_input_shape(self._input, (high, *self._image_shape))
        n_out = int(np.prod(context.get_tensor_shape(self._output)))
        n_in = high * int(np.prod(self._image_shape))
        for tensor, count in ((self._input, n_in), (self._output, n_out)):
            pointer = int(_ok(cudart, cudart.cudaMalloc(count * 4)))
            self._buffers.append(pointer)
            context.set_tensor_address(tensor, pointer)
        _ok(cudart, cudart.cudaStreamSynchronize(self._stream))
        return context

    def run(self, images: np.ndarray) -> np.ndarray:
        cudart = self._cudart
        images = np.ascontiguousarray(images, dtype=np.float32)
        batch = images.shape[0]
        index = next(i for i, (_, _, high) in enumerate(self._ranges) if batch <= high)
        context = self._contexts[index]
        context.set_input_shape(self._input, images.shape)
        out = np.empty(tuple(context.get_tensor_shape(self._output)), dtype=np.float32)
        d_in, d_out = self._buffers[2 * index], self._buffers[2 * index + 1]
        h2d, d2h = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        _ok(cudart, cudart.cudaMemcpyAsync(d_in, images.ctypes.data, images.nbytes, h2d, self._stream))
        if not context.execute_async_v3(int(self._stream)):
            raise RuntimeError("TensorRT execute_async_v3 failed")
        _ok(cudart, cudart.cudaMemcpyAsync(out.ctypes.data, d_out, out.nbytes, d2h, self._stream))
        _ok(cudart, cudart.cudaStreamSynchronize(self._stream))
        return out

    def describe(self) -> str:
        return f"tensorrt {self._trt_version} on {self._device}"

    def close(self) -> None:
        cudart = self._cudart
        self._contexts = []
        for pointer in self._buffers:
            cudart.cudaFree(pointer)
        self._buffers = []
        if self._stream is not None:
            cudart.cudaStreamDestroy(self._stream)
            self._stream = None


def _load(path: Path, options: LoadOptions) -> Backend:
    return TensorRTBackend(path, batch_sizes=options.batch_sizes, cache_dir=options.cache_dir)


SPEC = register(
    BackendSpec(
        name="tensorrt",
        runtime="TensorRT",
        summary="TensorRT engine built on this GPU (cached per ONNX file, GPU, version and batch sizes)",
        packages=("tensorrt", "cuda.bindings"),
        install="pip install './edge[tensorrt]' (or 'compressor[tensorrt]'; on Jetson: JetPack's tensorrt)",
        load=_load,
        int8_target="tensorrt",
    )
)
