"""The MMT-ARD comparison script's table: mean ± sd over seeds per row, step times relative to one teacher."""

from __future__ import annotations

import json
from pathlib import Path

from compressor.experiments.mmt_ard_comparison import write_table


def _row(seed: int, row: str, clean: float) -> dict[str, object]:
    return {
        "seed": seed,
        "row": row,
        "clean": clean,
        "apgd-t": clean / 2,
        "teachers": {"robust": 0.9},
        "teachers_pgd10": {"robust": 0.7},
        "device": "cpu",
        "distill_s": 1.0,
        "step_s": 0.1,
    }


def test_the_table_holds_mean_and_sd_per_row_and_the_step_ratio(tmp_path: Path) -> None:
    out, table, steps = tmp_path / "rows.jsonl", tmp_path / "table.md", tmp_path / "steps.jsonl"
    rows = [_row(0, "mmt_ard", 0.8), _row(1, "mmt_ard", 0.9), _row(0, "single-teacher", 0.7)]
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    timing = {"mmt_ard": 0.3, "single-teacher": 0.2}
    record = {"rounds": 2, "steps": 3, "batch_size": 8, "threads": 1, "cpu": "x", "seconds_per_step": timing}
    steps.write_text(json.dumps(record) + "\n")
    write_table(out, table, "cmd", steps)
    text = table.read_text()
    assert "| mmt_ard (n=2) | 85.0 ± 7.1 | 42.5 ± 3.5 |" in text
    assert "| single-teacher (n=1) | 70.0 ± 0.0 | 35.0 ± 0.0 |" in text
    assert "| mmt_ard | 0.3000 | 1.50x |" in text
    assert "step s" not in text  # per-row logged step times ran under different loads: not tabled


def test_every_row_reads_the_teachers_runs_pretrained_student_and_teachers(tmp_path: Path) -> None:
    from compressor.experiments.mmt_ard_comparison import _teacher_overrides
    from compressor.models.clip_pretrain import pretrain_key
    from compressor.recipe_loading import load_recipe

    recipe = load_recipe(Path(__file__).resolve().parents[2] / "recipes" / "digits-clip-mmt-ard.yaml")
    teachers_run = tmp_path / "teachers-run"
    overrides = _teacher_overrides(recipe, teachers_run)
    key = pretrain_key(recipe.student, recipe.data, recipe.run.seed)
    assert overrides[0] == f"student.checkpoint={teachers_run / 'pretrain' / key}.safetensors"
    assert f"teachers.0.model.checkpoint={teachers_run / 'teachers' / 'robust.safetensors'}" in overrides
