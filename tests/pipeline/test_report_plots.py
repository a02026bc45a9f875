"""The report a deployment engineer reads: the eps curve, robust accuracy vs latency and the training curve
linked from report.md, the best epoch named, and a remark where a format is slower than fp32."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from compressor.cli.main import app
from compressor.report.plots import best_epoch


def _row(fmt: str, speedups: dict[int, float], status: str = "pass") -> dict[str, Any]:
    latency = {
        str(b): {"median": 1.0 / s, "p90": 1.2 / s, "runs": 30, "speedup_vs_fp32": s}
        for b, s in speedups.items()
    }
    return {
        "format": fmt,
        "backend": "onnxruntime-cpu",
        "status": status,
        "adv_probe_acc": 0.8,
        "latency_ms": latency,
    }


def _write(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))


def _finished_run(run: Path) -> None:
    """The files the other stages write, as a finished quickstart leaves them (int8 at 0.45x of fp32)."""
    _write(run / "data.json", {"class_names": [str(i) for i in range(10)]})
    _write(
        run / "teachers" / "summary.json",
        [{"role": "robust", "model": "tiny_cnn", "test_clean": 0.97, "test_pgd10": 0.8}],
    )
    val = [
        {"kind": "val", "step": 4 * e, "epoch": e, "val_clean": 0.9, "score": s}
        for e, s in ((1, 0.5), (2, 0.7), (3, 0.7))
    ]
    _write(run / "distill" / "metrics.jsonl", "\n".join(json.dumps(r) for r in val) + "\n")
    evaluation = {
        "n": 64,
        "clean_accuracy": 0.95,
        "robust_accuracy": {"pgd20": 0.8, "autoattack": 0.78},
        "worst_case_accuracy": 0.78,
        "settings": {"eps": 0.1, "norm": "linf"},
        "sanity_checks": [],
    }
    _write(run / "evaluate" / "evaluation.json", evaluation)
    curve = {
        "attack": "pgd20",
        "norm": "linf",
        "n": 64,
        "clean_accuracy": 0.95,
        "eps": [0.05, 0.1, 0.2],
        "robust_accuracy": [0.9, 0.8, 0.3],
    }
    _write(run / "evaluate" / "robust_vs_eps.json", curve)
    rows = [
        _row("fp32", {1: 1.0, 32: 1.0}),
        _row("fp16", {1: 0.97, 32: 1.1}),
        _row("int8", {1: 0.8, 32: 0.45}),
    ]
    _write(run / "verify" / "verify.json", {"passed": True, "results": rows})
    _write(run / "verify" / "verify.md", "| format | status |\n|---|---|\n| int8 | PASS |\n")


def test_report_links_every_plot_and_remarks_on_a_slower_format(tiny_recipe) -> None:
    recipe = tiny_recipe()
    run = recipe.parent / "runs" / "tiny"
    _finished_run(run)
    result = CliRunner().invoke(app, ["distill", str(recipe), "--stages", "report"])
    assert result.exit_code == 0, result.output
    report = (run / "report" / "report.md").read_text()
    for plot in ("robust_vs_eps.png", "robust_vs_latency.png", "training.png"):
        assert f"]({plot})" in report and (run / "report" / plot).stat().st_size > 1000
    assert "Best validation epoch: 2 " in report  # the first of the equal best scores, as the trainer keeps
    remarks = [line for line in report.splitlines() if line.startswith("> **Remark:**")]
    assert len(remarks) == 1 and "int8 on onnxruntime-cpu is slower than fp32" in remarks[0]
    assert "0.80x at batch 1, 0.45x at batch 32" in remarks[0]  # fp16 at 0.97x is within timing noise
    assert "int8 on onnxruntime-cpu is slower than fp32" in " ".join(result.output.split())
    assert (
        json.loads((run / "report" / "report.json").read_text())["plots"]["latency"]
        == "robust_vs_latency.png"
    )


def test_best_epoch_is_the_first_highest_score() -> None:
    val = [{"epoch": 1}, {"epoch": 2, "score": 0.6}, {"epoch": 3, "score": 0.6}, {"epoch": 4, "score": 0.5}]
    assert best_epoch(val) == val[1]
    assert best_epoch([{"epoch": 1}]) is None
