"""OpenVINO backend on the CPU: the bundle's ONNX files as they are, float parts pinned to f32.

OpenVINO's CPU plugin defaults to bf16 inference precision on CPUs with AVX512-BF16 or AMX, which broke fp32
parity (max |dlogit| 0.065-0.13 on an AMX Xeon); INFERENCE_PRECISION_HINT=f32 keeps fp32 an fp32 check.
The hint does not touch int8: OpenVINO's low-precision transformations turn the QDQ pairs of the int8 file
into int8 kernels either way, and the fp16 file's float16 weights are computed in f32.

Two settings are for shared machines and small batches (benchmarks/bench_openvino_setup.py, int8 ResNet-18,
batch 1, one thread, 2-core EPYC). ENABLE_CPU_PINNING is off: a pinned inference thread waits whenever another
process runs on its core (with a third process running: 8.0 ms pinned, 1.8-2.0 ms unpinned, onnxruntime
1.8 ms). And a model with a dynamic batch is also compiled reshaped to each of `batch_sizes` (static shapes:
1.52 against 1.61 ms dynamic without the extra load); other batch sizes run on the dynamic one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from compressor_edge.backends.base import Backend
from compressor_edge.backends.registry import BackendSpec, LoadOptions, register
from compressor_edge.errors import BackendUnavailable, BundleError


def import_openvino() -> Any:
    """Import openvino lazily, with one clear line when it is missing or broken."""
    SPEC.require()
    try:
        import openvino
    except ImportError as err:
        raise BackendUnavailable(
            f"openvino-cpu backend: openvino cannot be imported ({err}); {SPEC.install}"
        ) from None
    return openvino


# an inference precision: its name in OPTIMIZATION_CAPABILITIES and in the compiled model's property
_PRECISIONS = {"f32": ("FP32", "f32", "float32"), "bf16": ("BF16", "bf16", "bfloat16")}


class OpenVINOBackend(Backend):
    """A model compiled for OpenVINO's CPU plugin, at f32 inference precision unless told "bf16"."""

    def __init__(
        self,
        onnx_path: Path,
        *,
        threads: int | None = None,
        batch_sizes: Sequence[int] = (),
        precision: str = "f32",
    ) -> None:
        ov = import_openvino()
        core = ov.Core()
        self.name = "openvino-cpu" if precision == "f32" else f"openvino-cpu-{precision}"
        capability, *spellings = _PRECISIONS[precision]
        if capability not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
            raise BackendUnavailable(f"{self.name}: this CPU has no {precision} support in OpenVINO")
        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": precision, "ENABLE_CPU_PINNING": False}
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        try:
            model = core.read_model(str(onnx_path))
            dynamic = model.inputs[0].get_partial_shape()[0].is_dynamic
            self._compiled: dict[int | None, Any] = {None: core.compile_model(model, "CPU", config)}
            for size in sorted(set(batch_sizes)) if dynamic else ():
                self._compiled[size] = core.compile_model(_with_batch(model, size), "CPU", config)
        except Exception as err:  # OpenVINO raises RuntimeError subclasses with long messages
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise BundleError(f"{onnx_path}: OpenVINO cannot load it ({first})") from None
        compiled = self._compiled[None]
        compiled_as = str(compiled.get_property("INFERENCE_PRECISION_HINT"))
        if not any(name in compiled_as for name in spellings):
            raise BackendUnavailable(f"{self.name}: inference precision is {compiled_as}, not {precision}")
        self.precision = precision
        batch = compiled.inputs[0].get_partial_shape()[0]
        self.max_batch = None if batch.is_dynamic else batch.get_length()
        self._requests = {size: c.create_infer_request() for size, c in self._compiled.items()}
        self._cpu = str(core.get_property("CPU", "FULL_DEVICE_NAME"))
        self._version = ov.__version__.split("-", 1)[0]

    def run(self, images: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(images, dtype=np.float32)
        request = self._requests.get(batch.shape[0], self._requests[None])
        result = request.infer({0: batch}, share_inputs=True)  # no input copy; the output is copied
        return np.array(result[0], dtype=np.float32)

    def close(self) -> None:
        self._requests = {}
        self._compiled = {}

    def describe(self) -> str:
        static = [str(size) for size in self._compiled if size is not None]
        shapes = f", static batch {'/'.join(static)}" if static else ""
        return f"{self.name} (OpenVINO {self._version}, {self.precision} precision, unpinned{shapes}, {self._cpu})"


def _with_batch(model: Any, size: int) -> Any:
    """A copy of `model` whose input has batch `size` (the rest of its shape unchanged)."""
    static = model.clone()
    shape = static.inputs[0].get_partial_shape()
    shape[0] = size
    static.reshape({0: shape})
    return static


def _load(path: Path, options: LoadOptions) -> Backend:
    return OpenVINOBackend(path, threads=options.threads, batch_sizes=options.batch_sizes)


SPEC = register(
    BackendSpec(
        name="openvino-cpu",
        runtime="OpenVINO",
        summary="OpenVINO on the CPU, f32 precision",
        packages=("openvino",),
        install="pip install './edge[openvino]' (or 'compressor[openvino]')",
        load=_load,
    )
)
