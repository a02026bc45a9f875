"""scripts/record_verify.py: the results header comes from the run directory's own files."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "record_verify.py"


def _module():
    spec = importlib.util.spec_from_file_location("record_verify", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(fmt: str, backend: str, speedup: float) -> dict:
    return {
        "format": fmt,
        "backend": backend,
        "latency_ms": {"32": {"median": 1.0, "speedup_vs_fp32": speedup}},
    }


def _run(root: Path) -> Path:
    run = root / "runs" / "r"
    (run / "evaluate").mkdir(parents=True)
    (run / "verify").mkdir()
    (run / "stages.json").write_text(json.dumps({"distill": {"seconds": 120.0}, "verify": {"seconds": 60.0}}))
    evaluation = {
        "n": 300,
        "clean_accuracy": 0.98,
        "robust_accuracy": {"pgd20": 0.95},
        "settings": {"eps_text": "0.1"},
    }
    (run / "evaluate" / "evaluation.json").write_text(json.dumps(evaluation))
    verify = {
        "verdict": "PASS",
        "fastest_passing": {"format": "int8", "backend": "onnxruntime-cpu"},
        "environment": {"machine": "Linux CPU X", "cpu": {"vnni": True, "amx": False}},
        "latency": {"interleaved": True, "runs": 30, "threads": 1},
        "results": [_row("fp32", "onnxruntime-cpu", 1.0), _row("int8", "onnxruntime-cpu", 3.7)],
    }
    (run / "verify" / "verify.json").write_text(json.dumps(verify))
    (run / "verify" / "verify.md").write_text("| table |\n")
    return run


def test_header_and_copies(tmp_path: Path) -> None:
    run = _run(tmp_path)
    out = tmp_path / "results" / "x"
    out.parent.mkdir()
    assert _module().main([str(run), str(out), "--command", "compressor distill a.yaml"]) == 0
    text = out.with_suffix(".md").read_text()
    assert "    compressor distill a.yaml" in text and "total 3.0 min" in text
    assert "clean 98.00%, pgd20 95.00%" in text and "int8 on onnxruntime-cpu" in text
    assert "- int8 vs fp32 on onnxruntime-cpu: batch 32 3.70x" in text and text.endswith("| table |\n")
    assert json.loads(out.with_suffix(".json").read_text())["verdict"] == "PASS"


def test_missing_verify_is_one_line(tmp_path: Path, capsys) -> None:
    assert _module().main([str(tmp_path), str(tmp_path / "x"), "--command", "c"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_a_run_that_skipped_evaluate_says_so(tmp_path: Path) -> None:
    run = _run(tmp_path)
    (run / "evaluate" / "evaluation.json").unlink()
    out = tmp_path / "x"
    assert _module().main([str(run), str(out), "--command", "c"]) == 0
    text = out.with_suffix(".md").read_text()
    assert "Test split: not evaluated (the run skipped the evaluate stage)" in text and "clean 98" not in text
