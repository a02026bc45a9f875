"""The precision each part of a run used, and why, reaches the console, metrics.jsonl and the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from compressor.engine import cpu_bf16, precision
from compressor.pipeline.run import run_pipeline
from compressor.recipe_loading import load_recipe


def test_avx512_bf16_choice_is_printed_logged_and_reported(
    tiny_recipe, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("COMPRESSOR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(precision, "bf16_isa", lambda info=None: "avx512_bf16")
    monkeypatch.setattr(
        cpu_bf16,
        "time_training_step",
        lambda model, x, y, rounds=5: cpu_bf16.StepTiming(10.0, 4.0, len(y), 5),
    )
    recipe = tiny_recipe()
    console = Console(record=True, width=300)
    run_pipeline(load_recipe(recipe), stages=["teachers", "distill", "evaluate", "report"], console=console)
    text = console.export_text()
    assert "teacher robust: bf16 (auto: AVX-512 BF16 without AMX" in text and "2.50x" in text
    run = Path(load_recipe(recipe).run.output_dir) / "tiny"
    records = [json.loads(line) for line in (run / "distill" / "metrics.jsonl").read_text().splitlines()]
    assert [r["precision"] for r in records if r["kind"] == "precision"] == ["bf16"]
    report = json.loads((run / "report" / "report.json").read_text())
    parts = {row["part"]: row["precision"] for row in report["precision"]}
    assert parts == {
        "teacher robust training": "bf16",
        "teacher clean training": "bf16",
        "distillation": "bf16",
        "evaluation": "fp32",
    }
    assert "## Precision" in (run / "report" / "report.md").read_text()
