"""The verification report: one row per format and backend, as JSON and as one Markdown table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from compressor_edge.backends import backend_spec
from compressor_edge.errors import BundleError
from compressor_edge.latency import ROUNDS, Latency
from compressor_edge.tolerances import VerifyTolerances

CHANCE_MARGIN = 0.05  # "at chance": clean accuracy within 5 points of 1/classes, or below it


@dataclass
class FormatResult:
    """Everything measured for one format on one backend, and the gates it failed."""

    format: str
    backend: str
    device: str = ""
    file: str = ""
    size_bytes: int = 0
    clean_acc: float | None = None
    adv_probe_acc: float | None = None
    square_acc: float | None = None
    square_mean_queries: float | None = None
    square_seconds: float | None = None
    max_abs_logit_diff: float | None = None
    rel_logit_diff: float | None = None
    top1_agreement: float | None = None
    latency: dict[int, Latency] = field(default_factory=dict)
    float_layers: list[str] = field(default_factory=list)  # int8 layers kept in float (robustness-aware)
    robust_int8: dict[str, Any] | None = None  # the export's robustness-aware int8 record
    failures: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def status(self) -> str:
        """'error' if it could not run, 'fail' if a gate failed, else 'pass'."""
        if self.error is not None:
            return "error"
        return "fail" if self.failures else "pass"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return {
            "format": self.format,
            "backend": self.backend,
            "device": self.device,
            "file": self.file,
            "status": self.status,
            "size_bytes": self.size_bytes,
            "clean_acc": self.clean_acc,
            "adv_probe_acc": self.adv_probe_acc,
            "square_acc": self.square_acc,
            "square_mean_queries": self.square_mean_queries,
            "square_seconds": self.square_seconds,
            "max_abs_logit_diff": self.max_abs_logit_diff,
            "rel_logit_diff": self.rel_logit_diff,
            "top1_agreement": self.top1_agreement,
            "latency_ms": {
                str(b): {"median": t.median_ms, "p90": t.p90_ms, "runs": t.runs}
                for b, t in self.latency.items()
            },
            "float_layers": list(self.float_layers),
            "robust_int8": self.robust_int8,
            "failures": list(self.failures),
            "error": self.error,
        }


@dataclass
class VerifyReport:
    """The result of verify_bundle: rows, the PyTorch reference, the settings and the gates used."""

    bundle: str
    eps: float
    norm: str
    n_probes: int
    pytorch_clean_acc: float
    pytorch_adv_acc: float
    square_queries: int
    seed: int
    tolerances: VerifyTolerances
    results: list[FormatResult]
    n_classes: int = 0
    square_points: int = 0
    pytorch_square_acc: float | None = None
    allow_chance_reference: bool = False
    environment: dict[str, Any] = field(default_factory=dict)
    latency_runs: int = 0
    threads: int | None = None
    square_skipped: bool = False  # Square was skipped on request (L-inf bundle): the verdict is INCOMPLETE

    @property
    def reference_at_chance(self) -> bool:
        """PyTorch's own clean probe accuracy is within CHANCE_MARGIN of 1/classes (or below): gates mean nothing."""
        return self.n_classes > 0 and self.pytorch_clean_acc <= 1.0 / self.n_classes + CHANCE_MARGIN

    @property
    def gates_passed(self) -> bool:
        """True when at least one row ran, every row passed every gate that ran, and the reference is not at chance."""
        rows_pass = bool(self.results) and all(r.status == "pass" for r in self.results)
        return rows_pass and (self.allow_chance_reference or not self.reference_at_chance)

    @property
    def passed(self) -> bool:
        """True when every gate passed and none was skipped on request (a skipped Square is never a pass)."""
        return self.gates_passed and not self.square_skipped

    def verdict(self) -> str:
        """PASS / FAIL / INCOMPLETE (gates passed, Square skipped), saying so when PyTorch itself is at chance."""
        word = "PASS" if self.passed else "INCOMPLETE" if self.gates_passed else "FAIL"
        if self.square_skipped:
            word += " (Square skipped on request: robustness on this runtime not checked)"
        if not self.reference_at_chance:
            return word
        chance = (
            f"PyTorch's own clean accuracy on the probes ({_pct(self.pytorch_clean_acc)}) is at chance for "
            f"{self.n_classes} classes ({_pct(1.0 / self.n_classes)}), so agreeing with it shows nothing"
        )
        allowed = " (allowed by allow_chance_reference)" if self.allow_chance_reference else ""
        return f"{word}: {chance}{allowed}"

    def speedup_vs_fp32(self, row: FormatResult, batch: int) -> float | None:
        """fp32's median / this row's at `batch` on the same backend (> 1: faster), from one interleaved loop;
        a reduced-precision backend (openvino-cpu-bf16) against the exact one's fp32 where that row was run."""
        reference = _exact_runtime(row.backend)
        fp32 = next((r for r in self.results if r.format == "fp32" and r.backend == reference), None)
        if fp32 is None or batch not in fp32.latency or batch not in row.latency:
            return None
        return fp32.latency[batch].median_ms / row.latency[batch].median_ms

    @property
    def fastest_passing(self) -> FormatResult | None:
        """The passing row with the lowest median batch-1 latency."""
        timed = [r for r in self.results if r.status == "pass" and 1 in r.latency]
        return min(timed, key=lambda r: r.latency[1].median_ms, default=None)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        fastest = self.fastest_passing
        rows = [r.to_dict() for r in self.results]
        for result, row in zip(self.results, rows, strict=True):
            for batch, timing in row["latency_ms"].items():
                timing["speedup_vs_fp32"] = self.speedup_vs_fp32(result, int(batch))
        return {
            "bundle": self.bundle,
            "passed": self.passed,
            "verdict": self.verdict(),
            "square_skipped": self.square_skipped,
            "pytorch_at_chance": self.reference_at_chance,
            "fastest_passing": None
            if fastest is None
            else {"format": fastest.format, "backend": fastest.backend},
            "threat_model": {"eps": self.eps, "norm": self.norm},
            "n_probes": self.n_probes,
            "pytorch": {"clean_acc": self.pytorch_clean_acc, "adv_probe_acc": self.pytorch_adv_acc},
            "n_classes": self.n_classes,
            "square_queries": self.square_queries,
            "square_points": self.square_points,
            "square_max_forwards_per_row": self.square_queries * self.square_points,
            "pytorch_square_acc": self.pytorch_square_acc,
            "seed": self.seed,
            "tolerances": self.tolerances.to_dict(),
            "environment": dict(self.environment),
            "latency": {"interleaved": True, "runs": self.latency_runs, "threads": self.threads},
            "results": rows,
        }

    def to_markdown(self) -> str:
        """One table, formats as rows, then the reference, the verdict and every failed gate."""
        lines = [*self._table(), "", *self._reference_lines(), *self._square_lines(), *self._row_notes()]
        return "\n".join(lines) + "\n"

    def _table(self) -> list[str]:
        """Formats x backends as rows: status, size, accuracies, parity and latency per batch size."""
        batches = sorted({b for r in self.results for b in r.latency})
        head = [
            "format",
            "backend",
            "status",
            "size",
            "clean",
            "adv-probe",
            "Square",
            "max abs dlogit",
            "rel dlogit",
            "top-1 agree",
        ]
        head += [cell for b in batches for cell in (f"latency b{b} (ms)", f"vs fp32 b{b}")]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in self.results:
            cells = [r.format, r.backend, r.status.upper(), _size(r.size_bytes), _pct(r.clean_acc)]
            cells += [
                _pct(r.adv_probe_acc),
                _pct(r.square_acc),
                _num(r.max_abs_logit_diff),
                _num(r.rel_logit_diff),
                _pct(r.top1_agreement),
            ]
            for b in batches:
                speedup = self.speedup_vs_fp32(r, b)
                cells.append(_ms(r.latency[b].median_ms) if b in r.latency else "-")
                cells.append("-" if speedup is None else f"{speedup:.2f}x")
            lines.append("| " + " | ".join(cells) + " |")
        return lines

    def _reference_lines(self) -> list[str]:
        """PyTorch's reference, the verdict and fastest passing row, how latency was timed, the machine."""
        fastest = self.fastest_passing
        square_reference = (
            " (all; no PyTorch Square record for this budget and seed, so compared with fp32 only)."
            if self.pytorch_square_acc is None
            else f" PyTorch keeps robust (clean and PGD); PyTorch's Square accuracy there: "
            f"{_pct(self.pytorch_square_acc)}."
        )
        if self.square_points and self.square_queries:
            square_reference += f" Square drops are judged in whole points (1 of {self.square_points})."
        rounds = min(ROUNDS, max(1, self.latency_runs))
        return [
            f"PyTorch on the same {self.n_probes} probes: clean {_pct(self.pytorch_clean_acc)}, "
            f"adv-probe {_pct(self.pytorch_adv_acc)}. Threat model: {self.norm}, eps {self.eps:.5g}; "
            f"Square: {self.square_queries} queries, seed {self.seed}, on {self.square_points} probes"
            + square_reference,
            f"Verdict: {self.verdict()}. Fastest passing (batch 1): "
            + ("none" if fastest is None else f"{fastest.format} on {fastest.backend}"),
            f"Latency: median ms per batch of every row timed round-robin in one loop ({rounds} rounds, at least "
            f"{self.latency_runs} runs each, {self.threads or 'default'} thread(s)); 'vs fp32' = the same "
            "runtime's fp32 median / this row's (> 1: faster; a bf16 runtime's: its exact runtime's fp32).",
            f"Machine: {self.environment.get('machine', 'not recorded')}. Files: "
            + ", ".join(sorted({f"{r.format}/{r.backend}: {r.file}" for r in self.results if r.file})),
        ]

    def _square_lines(self) -> list[str]:
        """The Square budget and the time each row spent, or why Square did not run."""
        lines = []
        timed = [r for r in self.results if r.square_seconds is not None]
        if timed:
            lines.append(
                f"Square budget: at most {self.square_queries * self.square_points} forward passes per row "
                "(queries x points); time spent: "
                + ", ".join(f"{r.format}/{r.backend} {r.square_seconds:.1f} s" for r in timed)
                + "."
            )
        if self.square_skipped:
            lines.append(
                "Square attack skipped on request (--skip-square): robustness on this runtime is not checked, "
                "so this report can never PASS."
            )
        elif self.square_queries == 0:
            lines.append("Square attack not run (L2 threat model; this kit's Square attack is L-inf).")
        return lines

    def _row_notes(self) -> list[str]:
        """Per row: layers kept in float, the robust-int8 gate, then every error and failed gate."""
        lines = []
        for r in self.results:
            if r.float_layers:
                lines.append(
                    f"- {r.format} / {r.backend} keeps {len(r.float_layers)} layer(s) in float for robustness "
                    f"({', '.join(r.float_layers)}); its latency above is with them in float."
                )
            if r.robust_int8 is not None and "robust_acc" in r.robust_int8:
                lines.append(f"- {r.format} / {r.backend}: {_robust_gate(r.robust_int8)}")
        for r in self.results:
            lines += [
                f"- {r.format} / {r.backend}: {problem}"
                for problem in ([r.error] if r.error else []) + r.failures
            ]
        return lines


def _exact_runtime(backend: str) -> str:
    """The backend whose fp32 row is `backend`'s speed reference: its exact twin when it has one and it ran."""
    try:
        return backend_spec(backend).exact_runtime or backend
    except BundleError:  # a row from a report of a backend this kit does not have
        return backend


def _robust_gate(record: dict[str, Any]) -> str:
    """The export's robustness-aware int8 gate in words."""
    cap = record.get("max_float_layers")
    unmet = f"NOT met (not even with {cap} layers in float)" if cap else "NOT met (layer cap reached)"
    met = "met" if record["gate_met"] else unmet
    return (
        f"robust-int8 gate at export {met}: held-out worst-case robust accuracy fp32 "
        f"{_pct(record['fp32_robust_acc'])}, plain int8 {_pct(record['plain_int8_robust_acc'])}, this file "
        f"{_pct(record['robust_acc'])} (allowed drop {record['max_drop']:g})"
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _ms(value: float) -> str:
    """Milliseconds with three significant digits at least down to 0.001 ms (tiny models run in microseconds)."""
    return f"{value:.1f}" if value >= 100 else f"{value:.3g}" if value >= 0.001 else f"{value:.1e}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2e}"


def _size(size: int) -> str:
    return f"{size / 2**20:.2f} MiB" if size >= 2**18 else f"{size / 2**10:.1f} KiB"
