"""ONNX to ONNX: the fp16 model and the int8 (static QDQ) models, derived from the fp32 export.

All keep float32 inputs and outputs, so every format of a bundle is called the same way. int8 comes in one
scheme per kind of runtime, because each runtime fuses a different one into int8 kernels:

- "cpu" (onnxruntime CPU, OpenVINO): onnxruntime's U8S8 QDQ scheme: asymmetric uint8 activations,
  symmetric per-channel int8 weights, int32 bias. This is what the CPU kernels fuse (QLinearConv /
  MatMulInteger paths); symmetric int8 activations leave most Q/DQ pairs as standalone ops and were
  measured no faster than fp32. On x86 CPUs without VNNI its u8 x s8 products go through int16 sums that can
  saturate, so there the weights are kept to 7 bits (`reduce_range`); with VNNI or AMX the full range is used.
- "tensorrt": what TensorRT's explicit quantisation expects: symmetric (zero point 0) int8 activations and
  per-channel symmetric weights; biases stay float (TensorRT fuses them itself, and int32 bias
  DequantizeLinear nodes have been reported to stop its ONNX parser, onnxruntime issue 17738).

Pre-processing is onnxruntime's quant_pre_process (ONNX shape inference and graph optimisation, which folds
what the exporter left unfused) without its symbolic shape inference: the exported graphs already carry every
shape except the dynamic batch, and the symbolic pass needs sympy, which the torch-free kit does not install.
"""

from __future__ import annotations

import inspect
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from compressor_edge.backends import backend_specs

CALIBRATION_METHODS = ("minmax", "entropy", "percentile")


def sort_nodes(graph: onnx.GraphProto) -> None:
    """Reorder nodes topologically (the fp16 converter appends its input casts at the end)."""
    available = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(name in available for name in n.input)]
        if not ready:
            raise ValueError(f"ONNX graph has a cycle or an undefined input near node {pending[0].name!r}")
        for node in ready:
            ordered.append(node)
            available.update(node.output)
        taken = {id(n) for n in ready}
        pending = [n for n in pending if id(n) not in taken]
    graph.ClearField("node")
    graph.node.extend(ordered)


def convert_to_fp16(src: Path, dst: Path) -> None:
    """fp16 weights and arithmetic, float32 inputs and outputs (Cast nodes at the edges)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    sort_nodes(model.graph)
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))


def _batches(images: np.ndarray, input_name: str, batch_size: int) -> Iterator[dict[str, np.ndarray]]:
    for start in range(0, images.shape[0], batch_size):
        yield {input_name: np.ascontiguousarray(images[start : start + batch_size], dtype=np.float32)}


def prepare_for_quantization(src: Path, dst: Path) -> Path:
    """onnxruntime's quant_pre_process without symbolic shape inference (see the module docstring)."""
    from onnxruntime.quantization import quant_pre_process

    quant_pre_process(str(src), str(dst), skip_symbolic_shape=True)
    return dst


# the int8 file kinds and why each scheme; the backends that run each registered it as their `int8_target`
INT8_TARGETS: dict[str, str] = {
    "cpu": "U8S8 QDQ (uint8 asymmetric activations, int8 per-channel weights, int32 bias): the scheme "
    "onnxruntime's and OpenVINO's CPU int8 kernels fuse (onnxruntime-cuda runs the same file)",
    "tensorrt": "symmetric int8 QDQ (zero-point-0 activations, per-channel weights, float bias): what "
    "TensorRT's explicit quantisation builds int8 kernels from",
}


def quantize_int8(
    src: Path,
    dst: Path,
    calibration_images: np.ndarray,
    *,
    target: str = "cpu",
    method: str = "minmax",
    batch_size: int = 32,
    reduce_range: bool = False,
    nodes_to_exclude: Sequence[str] = (),
    preprocess: bool = True,
    calibration_cache: Path | None = None,
) -> dict[str, Any]:
    """Static QDQ int8 quantisation for one target kind, calibrated on float32 images [N,C,H,W] in [0,1].

    Returns the settings written into the manifest. `reduce_range` (7-bit weights) only applies to the
    "cpu" target, for x86 CPUs without VNNI; `nodes_to_exclude` names nodes that stay in float (names of
    the pre-processed graph: pass `preprocess=False` with a `src` from prepare_for_quantization).
    `calibration_cache` (a JSON file) keeps the calibrated activation ranges, computed once and reused by
    every later call on the same `src`, images and method (the ranges do not depend on `nodes_to_exclude`),
    where the installed onnxruntime has its calibration cache (elsewhere each call calibrates again).
    """
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    calibrate_method = _calibration_method(method)
    if target not in INT8_TARGETS:
        raise ValueError(f"int8 target must be one of {', '.join(INT8_TARGETS)}, got {target!r}")
    if calibration_images.ndim != 4 or calibration_images.shape[0] == 0:
        raise ValueError("int8 calibration needs a non-empty float32 array [N, C, H, W]")
    input_name = onnx.load(str(src), load_external_data=False).graph.input[0].name
    cpu = target == "cpu"

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = _batches(calibration_images, input_name, batch_size)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    # the CPU kernels want uint8 activations (asymmetric); TensorRT symmetric int8 with float bias
    symmetric = {} if cpu else {"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False}
    with tempfile.TemporaryDirectory(prefix="compressor-quant-") as tmp:
        prepared = prepare_for_quantization(src, Path(tmp) / "prepared.onnx") if preprocess else src
        quantize_static(
            str(prepared),
            str(dst),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=cpu and reduce_range,
            activation_type=QuantType.QUInt8 if cpu else QuantType.QInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=calibrate_method,
            nodes_to_exclude=list(nodes_to_exclude),
            extra_options=symmetric,
            **_cache_option(calibration_cache),
        )
    return _int8_settings(target, method, cpu and reduce_range, calibration_images.shape[0], nodes_to_exclude)


def _cache_option(path: Path | None) -> dict[str, str]:
    """quantize_static's calibration cache argument, where this onnxruntime takes one."""
    from onnxruntime.quantization import quantize_static

    if path is None or "calibration_cache_path" not in inspect.signature(quantize_static).parameters:
        return {}
    return {"calibration_cache_path": str(path)}


def _int8_settings(
    target: str, method: str, seven_bit: bool, n_images: int, float_nodes: Sequence[str]
) -> dict[str, Any]:
    """What quantize_int8 did, as the manifest records it."""
    import onnxruntime

    cpu = target == "cpu"
    return {
        "target": target,
        "runtimes": [name for name, spec in backend_specs().items() if spec.int8_target == target],
        "why": INT8_TARGETS[target],
        "scheme": "static QDQ (onnxruntime.quantization)",
        "activations": "uint8, asymmetric, per-tensor" if cpu else "int8, symmetric, per-tensor",
        "weights": f"int8{' (7-bit range)' if seven_bit else ''}, symmetric, per-channel",
        "bias": "int32" if cpu else "float32 (not quantised)",
        "reduce_range": seven_bit,
        "calibration_method": method,
        "calibration_images": int(n_images),
        "float_nodes": list(float_nodes),
        "onnxruntime": onnxruntime.__version__,
    }


def _calibration_method(name: str) -> Any:
    """onnxruntime's CalibrationMethod for one of CALIBRATION_METHODS."""
    from onnxruntime.quantization import CalibrationMethod

    methods = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }
    if name not in methods:
        raise ValueError(
            f"int8 calibration method must be one of {', '.join(CALIBRATION_METHODS)}, got {name!r}"
        )
    return methods[name]
