"""OpenVINO backend on the CPU: the bundle's ONNX files as they are, float parts pinned to f32.

OpenVINO's CPU plugin defaults to bf16 inference precision on CPUs with AVX512-BF16 or AMX, which broke fp32
parity (max |dlogit| 0.065-0.13 on an AMX Xeon); INFERENCE_PRECISION_HINT=f32 keeps fp32 an fp32 check.
The hint does not touch int8: OpenVINO's low-precision transformations turn the QDQ pairs of the int8 file
into int8 kernels either way, and the fp16 file's float16 weights are computed in f32.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from compressor_edge.backends.base import Backend
from compressor_edge.errors import BackendUnavailable, BundleError


def import_openvino() -> Any:
    """Import openvino lazily, with one clear line when it is missing."""
    try:
        import openvino
    except ImportError:
        raise BackendUnavailable(
            "openvino-cpu backend: the 'openvino' package is not installed; run: pip install './export[openvino]'"
        ) from None
    return openvino


class OpenVINOBackend(Backend):
    """A model compiled for OpenVINO's CPU plugin with f32 inference precision."""

    name = "openvino-cpu"

    def __init__(self, onnx_path: Path, *, threads: int | None = None) -> None:
        ov = import_openvino()
        core = ov.Core()
        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "f32"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        try:
            model = core.read_model(str(onnx_path))
            self._compiled = core.compile_model(model, "CPU", config)
        except Exception as err:  # OpenVINO raises RuntimeError subclasses with long messages
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise BundleError(f"{onnx_path}: OpenVINO cannot load it ({first})") from None
        precision = str(self._compiled.get_property("INFERENCE_PRECISION_HINT"))
        if "f32" not in precision and "float32" not in precision:
            raise BackendUnavailable(f"openvino-cpu: inference precision is {precision}, not f32")
        batch = self._compiled.inputs[0].get_partial_shape()[0]
        self.max_batch = None if batch.is_dynamic else batch.get_length()
        self._request = self._compiled.create_infer_request()
        self._output = self._compiled.outputs[0]
        self._cpu = str(core.get_property("CPU", "FULL_DEVICE_NAME"))
        self._version = ov.__version__.split("-", 1)[0]

    def run(self, images: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(images, dtype=np.float32)
        result = self._request.infer({0: batch}, share_inputs=True)  # no input copy; the output is copied
        return np.array(result[self._output], dtype=np.float32)

    def close(self) -> None:
        self._request = None
        self._compiled = None

    def describe(self) -> str:
        return f"{self.name} (OpenVINO {self._version}, f32 precision, {self._cpu})"
