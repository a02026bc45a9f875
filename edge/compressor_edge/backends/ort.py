"""onnxruntime backend on the CPU or CUDA execution provider."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from compressor_edge.backends.base import Backend
from compressor_edge.backends.registry import BackendSpec, LoadOptions, register
from compressor_edge.errors import BackendUnavailable, BundleError

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}
INSTALL = {
    "cpu": "pip install onnxruntime",
    "cuda": "pip install onnxruntime-gpu (instead of onnxruntime), with CUDA and cuDNN on the machine",
}


class OnnxRuntimeBackend(Backend):
    """An InferenceSession that refuses to fall back silently to another execution provider."""

    def __init__(self, onnx_path: Path, *, device: str = "cpu", threads: int | None = None) -> None:
        import onnxruntime as ort

        provider = PROVIDERS[device]
        self.name = f"onnxruntime-{device}"
        if provider not in ort.get_available_providers():
            raise BackendUnavailable(
                f"{self.name}: {provider} is not available in this onnxruntime build "
                f"(has {', '.join(ort.get_available_providers())}); {INSTALL[device]}"
            )
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        try:
            self._session = ort.InferenceSession(str(onnx_path), options, providers=[provider])
        except Exception as err:  # onnxruntime raises its own exception types per failure
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise BundleError(f"{onnx_path}: onnxruntime cannot load it ({first})") from None
        if self._session.get_providers()[0] != provider:
            raise BackendUnavailable(f"{self.name}: session fell back to {self._session.get_providers()[0]}")
        self._input = self._session.get_inputs()[0].name
        batch_dim = self._session.get_inputs()[0].shape[0]
        self.max_batch = batch_dim if isinstance(batch_dim, int) and batch_dim > 0 else None
        self._output = self._session.get_outputs()[0].name
        self._version = ort.__version__

    def run(self, images: np.ndarray) -> np.ndarray:
        feed = {self._input: np.ascontiguousarray(images, dtype=np.float32)}
        return self._session.run([self._output], feed)[0]

    def close(self) -> None:
        self._session = None

    def describe(self) -> str:
        return f"{self.name} (onnxruntime {self._version})"


def _register(device: str) -> BackendSpec:
    def load(path: Path, options: LoadOptions) -> Backend:
        return OnnxRuntimeBackend(path, device=device, threads=options.threads)

    return register(
        BackendSpec(
            name=f"onnxruntime-{device}",
            runtime="onnxruntime",
            summary=f"onnxruntime, {PROVIDERS[device]}",
            packages=("onnxruntime",),
            install=INSTALL[device],
            load=load,
        )
    )


SPECS = {device: _register(device) for device in PROVIDERS}
