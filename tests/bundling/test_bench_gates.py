"""The latency gates of benchmarks/export_gates.py on hand-made rows: each target passes and fails where it should."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

GATES = Path(__file__).resolve().parents[2] / "benchmarks" / "export_gates.py"


def _module():
    spec = importlib.util.spec_from_file_location("export_gates", GATES)
    module = importlib.util.module_from_spec(spec)
    sys.modules["export_gates"] = module
    spec.loader.exec_module(module)
    return module


def _rows(ms: dict[tuple[str, str, int], float]) -> list[dict]:
    return [{"backend": b, "format": f, "batch": n, "median_ms": t} for (b, f, n), t in ms.items()]


def test_vnni_targets() -> None:
    gates = _module().latency_gates(
        "cifar_resnet18",
        _rows(
            {
                ("onnxruntime-cpu", "fp32", 32): 100.0,
                ("onnxruntime-cpu", "int8", 32): 39.0,
                ("openvino-cpu", "int8", 32): 41.0,
            }
        ),
        vnni=True,
    )
    assert [(g.name.split()[0], g.passed) for g in gates] == [("onnxruntime", True), ("OpenVINO", False)]
    assert round(gates[0].ratio, 3) == round(100 / 39, 3) and gates[0].bound == 2.5


def test_without_vnni_the_bound_is_lower_and_openvino_is_not_compared() -> None:
    rows = _rows({("onnxruntime-cpu", "fp32", 32): 100.0, ("onnxruntime-cpu", "int8", 32): 70.0})
    (gate,) = _module().latency_gates("cifar_resnet18", rows, vnni=False)
    assert gate.bound == 1.3 and gate.passed
    (slow,) = _module().latency_gates(
        "cifar_resnet18",
        _rows({("onnxruntime-cpu", "fp32", 32): 100.0, ("onnxruntime-cpu", "int8", 32): 80.0}),
        vnni=False,
    )
    assert not slow.passed and slow.line().startswith("FAIL")


def test_mobilenet_int8_must_not_be_slower_on_any_runtime_or_batch() -> None:
    rows = _rows({("openvino-cpu", "fp32", 1): 1.0, ("openvino-cpu", "int8", 1): 1.2})
    (gate,) = _module().latency_gates("cifar_mobilenetv2", rows, vnni=True)
    assert not gate.passed and "openvino-cpu int8 speed vs fp32 at batch 1" in gate.name
    assert _module().latency_gates("cifar_resnet18", rows, vnni=True) == []
