"""The int8 latency targets of issue 12, as gates over bench_export_latency's rows (each row: one model,
runtime, format and batch, with its median ms).

On a CPU with VNNI (or AMX): onnxruntime int8 >= 2.5x its fp32 at batch 32, and OpenVINO int8 at least as
fast as onnxruntime int8 at every batch; without VNNI: onnxruntime int8 >= 1.3x fp32 at batch 32. On every
CPU: a MobileNet's int8 is no slower than its fp32 on each runtime and batch. A gate whose rows were not
measured is not listed (it neither passes nor fails).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

VNNI_SPEEDUP, NO_VNNI_SPEEDUP, GATE_BATCH = 2.5, 1.3, 32


@dataclass(frozen=True)
class Gate:
    """One target on one model: what was compared, the measured ratio and the bound."""

    model: str
    name: str
    ratio: float
    bound: float

    @property
    def passed(self) -> bool:
        return self.ratio >= self.bound

    def line(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return f"{verdict}  {self.model}: {self.name} = {self.ratio:.2f}x (target >= {self.bound:g}x)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "gate": self.name,
            "ratio": self.ratio,
            "bound": self.bound,
            "passed": self.passed,
        }


def _ms(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str, int], float]:
    return {(r["backend"], r["format"], int(r["batch"])): float(r["median_ms"]) for r in rows}


def latency_gates(model: str, rows: Iterable[Mapping[str, Any]], vnni: bool) -> list[Gate]:
    """The gates that apply to one model's rows on a CPU with or without VNNI."""
    ms = _ms(rows)
    gates: list[Gate] = []
    ort_fp32, ort_int8 = ("onnxruntime-cpu", "fp32", GATE_BATCH), ("onnxruntime-cpu", "int8", GATE_BATCH)
    if ort_fp32 in ms and ort_int8 in ms:
        bound = VNNI_SPEEDUP if vnni else NO_VNNI_SPEEDUP
        name = f"onnxruntime int8 speed-up over fp32 at batch {GATE_BATCH}"
        gates.append(Gate(model, name, ms[ort_fp32] / ms[ort_int8], bound))
    batches = sorted({b for _, _, b in ms})
    if vnni:
        for batch in batches:
            ov, ort = ("openvino-cpu", "int8", batch), ("onnxruntime-cpu", "int8", batch)
            if ov in ms and ort in ms:
                name = f"OpenVINO int8 speed vs onnxruntime int8 at batch {batch}"
                gates.append(Gate(model, name, ms[ort] / ms[ov], 1.0))
    if "mobilenet" in model:
        for backend in sorted({b for b, _, _ in ms}):
            for batch in batches:
                fp32, int8 = (backend, "fp32", batch), (backend, "int8", batch)
                if fp32 in ms and int8 in ms:
                    name = f"{backend} int8 speed vs fp32 at batch {batch}"
                    gates.append(Gate(model, name, ms[fp32] / ms[int8], 1.0))
    return gates
