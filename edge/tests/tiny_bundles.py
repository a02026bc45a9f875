"""Tiny bundles built without torch: a nearest-prototype linear classifier written with onnx.helper.

The "PyTorch" reference is the same classifier in numpy, and the adversarial probes are its exact
worst-case L-inf perturbations (for a linear model the best attack on each wrong class is closed-form).
A module with a unique name, because test modules must not import conftest (several test folders have one).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from compressor_edge.bundle import FORMAT_FILES, INT8_TENSORRT_FILE, Probes
from compressor_edge.bundle_writer import INPUT_NAME, OUTPUT_NAME, make_manifest, write_manifest, write_probes
from compressor_edge.convert import convert_to_fp16, quantize_int8
from compressor_edge.square import square_attack_linf

SHAPE = (3, 8, 8)
CLASSES = ["cat", "dog", "ship", "frog"]
MEAN = np.array([0.45, 0.5, 0.55], dtype=np.float32)
STD = np.array([0.22, 0.25, 0.2], dtype=np.float32)
EPS = 0.04
SCALE = 4.0


def _prototypes() -> np.ndarray:
    return np.random.default_rng(123).uniform(0.4, 0.6, size=(len(CLASSES), *SHAPE)).astype(np.float32)


def _weights() -> tuple[np.ndarray, np.ndarray]:
    """Pixel-space weights and biases: nearest prototype, centred on the mean prototype and scaled."""
    p = _prototypes().reshape(len(CLASSES), -1)
    centred = p - p.mean(0)
    return SCALE * centred, -SCALE * 0.5 * (centred * (p + p.mean(0))).sum(1)


def reference_logits(x: np.ndarray) -> np.ndarray:
    """The classifier in numpy (the stand-in for PyTorch)."""
    w, b = _weights()
    return (x.reshape(len(x), -1) @ w.T + b).astype(np.float32)


def worst_case(x: np.ndarray, y: np.ndarray, eps: float) -> np.ndarray:
    """Exact L-inf attack of the linear reference: try every wrong class, keep the lowest margin."""
    p = _prototypes()
    best, best_margin = x.copy(), np.full(len(x), np.inf)
    for j in range(len(CLASSES)):
        cand = np.clip(x - eps * np.sign(p[y] - p[j]), 0.0, 1.0).astype(np.float32)
        logits = reference_logits(cand)
        m = logits[np.arange(len(y)), y] - np.where(
            np.arange(len(CLASSES)) == y[:, None], -np.inf, logits
        ).max(1)
        take = (m < best_margin) & (j != y)
        best[take], best_margin[take] = cand[take], m[take]
    return best


def linear_onnx(*, double_normalisation: bool = False) -> onnx.ModelProto:
    """The reference as ONNX: (x - mean) / std inside, then Gemm with weights folded to normalised space."""
    k = len(CLASSES)
    w, b = _weights()
    w4 = w.reshape(k, *SHAPE)
    weight = (w4 * STD[None, :, None, None]).reshape(k, -1)
    bias = b + (w4 * MEAN[None, :, None, None]).reshape(k, -1).sum(1)
    inits = [
        numpy_helper.from_array(MEAN.reshape(1, 3, 1, 1), "mean"),
        numpy_helper.from_array(STD.reshape(1, 3, 1, 1), "std"),
        numpy_helper.from_array(weight.astype(np.float32), "W"),
        numpy_helper.from_array(bias.astype(np.float32), "b"),
    ]
    nodes = [
        helper.make_node("Sub", [INPUT_NAME, "mean"], ["c"]),
        helper.make_node("Div", ["c", "std"], ["z"]),
    ]
    if double_normalisation:
        nodes += [
            helper.make_node("Sub", ["z", "mean"], ["c2"]),
            helper.make_node("Div", ["c2", "std"], ["z2"]),
        ]
    nodes += [
        helper.make_node("Flatten", ["z2" if double_normalisation else "z"], ["f"]),
        helper.make_node("Gemm", ["f", "W", "b"], [OUTPUT_NAME], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", *SHAPE])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", k])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model


def probe_set(n: int = 48, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Clean probe images (noisy prototypes) and labels."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(CLASSES), size=n)
    x = np.clip(_prototypes()[y] + rng.normal(0, 0.15, size=(n, *SHAPE)), 0, 1).astype(np.float32)
    return x, y.astype(np.int64)


def _write_formats(
    root: Path, formats: Sequence[str], double_normalisation: bool, tensorrt: bool
) -> dict[str, dict[str, Any]]:
    """Write the ONNX files; returns each format's manifest metadata (int8: the CPU file, TensorRT's beside)."""
    fp32 = linear_onnx(double_normalisation=double_normalisation)
    onnx.save(fp32, root / FORMAT_FILES["fp32"])
    meta: dict[str, dict[str, Any]] = {fmt: {} for fmt in formats}
    if "fp16" in formats:
        convert_to_fp16(root / FORMAT_FILES["fp32"], root / FORMAT_FILES["fp16"])
    if "int8" in formats:
        calibration = probe_set(64, seed=7)[0]
        cpu = quantize_int8(root / FORMAT_FILES["fp32"], root / FORMAT_FILES["int8"], calibration)
        meta["int8"] = {"runtimes": cpu["runtimes"], "quantization": cpu}
        if tensorrt:
            trt = quantize_int8(
                root / FORMAT_FILES["fp32"], root / INT8_TENSORRT_FILE, calibration, target="tensorrt"
            )
            alternate = {"file": INT8_TENSORRT_FILE, "runtimes": trt["runtimes"], "quantization": trt}
            meta["int8"]["alternates"] = [alternate]
    if "fp32" not in formats:
        (root / FORMAT_FILES["fp32"]).unlink()
    return meta


def square_record(probes: Probes, queries: int = 100, seed: int = 0) -> dict[str, Any]:
    """The reference's Square accuracy on the probes it keeps robust, as the exporter records it."""
    robust = (probes.clean_logits.argmax(1) == probes.labels) & (
        probes.adversarial_logits.argmax(1) == probes.labels
    )
    indices = np.flatnonzero(robust)
    result = square_attack_linf(
        reference_logits,
        probes.clean_images[indices],
        probes.labels[indices],
        eps=EPS,
        n_queries=queries,
        seed=seed,
    )
    return {
        "indices": indices.tolist(),
        "queries": queries,
        "seed": seed,
        "pytorch_square_acc": result.robust_accuracy,
    }


def make_bundle(
    root: Path,
    *,
    formats: Sequence[str] = ("fp32", "fp16", "int8"),
    double_normalisation: bool = False,
    tensorrt: bool = True,
) -> Path:
    """Write a complete tiny bundle into `root` and return it (with TensorRT's int8 file unless told not to)."""
    root.mkdir(parents=True, exist_ok=True)
    meta = _write_formats(root, formats, double_normalisation, tensorrt)
    x, y = probe_set()
    adv = worst_case(x, y, EPS)
    probes = Probes(x, y, adv, reference_logits(x), reference_logits(adv))
    write_probes(root, probes)
    fields = {"opset": 18, "pytorch_metrics": {"clean_acc": 1.0}, "square": square_record(probes)}
    manifest = make_manifest(
        root,
        image_shape=SHAPE,
        class_names=CLASSES,
        eps=EPS,
        norm="linf",
        formats=meta,
        probes=probes,
        fields=fields,
    )
    write_manifest(root, manifest)
    return root
