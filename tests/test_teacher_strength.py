"""The teacher-strength table: each distillation method's gain over training alone, per teacher budget."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "teacher_strength.py"


def _rows(teacher_aa: float, method_scores: dict[str, list[float]], failed: str | None = None) -> list[dict]:
    rows: list[dict] = [{"phase": "teacher", "method": "robust", "clean": 0.85, "autoattack": teacher_aa}]
    for method, scores in method_scores.items():
        rows += [
            {
                "phase": "test",
                "method": method,
                "seed": seed,
                "lr": 0.5,
                "clean": 0.8,
                "autoattack": 2 * score - 0.8,
                "sanity_failed": ["black_box_vs_white_box"] if method == failed else [],
            }
            for seed, score in enumerate(scores)
        ]
    return rows


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _self_table(tmp_path: Path, rows: list[dict]) -> str:
    """The strength table of one results file used as both the baseline and the only budget."""
    baseline = _write(tmp_path / "main.jsonl", rows)
    out = tmp_path / "strength"
    command = [sys.executable, str(SCRIPT), "--baseline", str(baseline), str(baseline), "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-1500:]
    return out.with_suffix(".md").read_text()


def test_gain_against_teacher_strength_from_results_files(tmp_path: Path) -> None:
    baseline = _write(
        tmp_path / "main.jsonl",
        _rows(
            0.70, {"pgd_at": [0.70, 0.71, 0.69], "trades": [0.68, 0.68, 0.68], "ciard": [0.73, 0.74, 0.72]}
        ),
    )
    weak = _write(
        tmp_path / "weak.jsonl",
        _rows(0.55, {"ciard": [0.66, 0.65, 0.67], "rslad": [0.9, 0.9]}, failed="rslad"),
    )
    out = tmp_path / "strength"
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--baseline",
            str(baseline),
            f"{weak}=1 epoch",
            str(baseline),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-1500:]
    table = out.with_suffix(".md").read_text()
    alone = "70.00 (`pgd_at`)"  # the best trained-alone method is the reference
    assert f"| 1 epoch | 85.00 | 55.00 | `ciard` | 0.5 | 3 | 66.00 ± 1.00 | {alone} | -4.00 | pass |" in table
    assert f"| main | 85.00 | 70.00 | `ciard` | 0.5 | 3 | 73.00 ± 1.00 | {alone} | +3.00 | pass |" in table
    assert (
        f"| `rslad` | 0.5 | 2 | 90.00 ± 0.00 | {alone} | +20.00 | FAIL seed 0, 1: black_box_vs_white_box |"
        in table
    )
    assert out.with_suffix(".png").stat().st_size > 1000


def test_a_masked_baseline_makes_each_gain_a_lower_bound(tmp_path: Path) -> None:
    rows = _rows(0.70, {"pgd_at": [0.70, 0.71, 0.69], "ciard": [0.73, 0.74, 0.72]}, failed="pgd_at")
    table = _self_table(tmp_path, rows)
    assert "| 70.00 (`pgd_at`, masked) | +3.00 |" in table


def test_a_budget_without_teacher_rows_is_one_error_line(tmp_path: Path) -> None:
    baseline = _write(tmp_path / "b.jsonl", _rows(0.7, {"pgd_at": [0.7, 0.7]}))
    bare = _write(tmp_path / "bare.jsonl", _rows(0.7, {"ciard": [0.7, 0.7]})[1:])
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--baseline", str(baseline), str(bare), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and "no robust teacher row with autoattack" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_missing_results_file_is_named(tmp_path: Path) -> None:
    baseline = _write(tmp_path / "b.jsonl", _rows(0.7, {"pgd_at": [0.7, 0.7]}))
    missing = tmp_path / "nosuch.jsonl"
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--baseline",
            str(baseline),
            str(missing),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and f"error: {missing}: no such results file" in done.stderr
    assert not (tmp_path / "o.md").exists()


def test_a_rate_tried_beside_the_chosen_one_is_its_own_row(tmp_path: Path) -> None:
    """A grid extended later (one seed at a new rate) must not be averaged into the chosen rate's seeds."""
    rows = _rows(0.70, {"pgd_at": [0.70, 0.71, 0.69], "ciard": [0.73, 0.74, 0.72]})
    rows.append({**rows[-1], "lr": 1.0, "seed": 0, "autoattack": 2 * 0.60 - 0.8})
    table = _self_table(tmp_path, rows)
    assert "| `ciard` | 0.5 | 3 | 73.00 ± 1.00 | 70.00 (`pgd_at`) | +3.00 | pass |" in table
    assert "| `ciard` | 1 | 1 | 60.00 | 70.00 (`pgd_at`) | -10.00 | pass |" in table


def test_a_setting_with_its_own_students_trained_alone_is_judged_against_them(tmp_path: Path) -> None:
    """Another student size or data set: its gain is over the same student trained alone, not the baseline's."""
    baseline = _write(
        tmp_path / "main.jsonl", _rows(0.70, {"pgd_at": [0.70, 0.71, 0.69], "ciard": [0.73] * 2})
    )
    wide = _write(tmp_path / "wide.jsonl", _rows(0.70, {"pgd_at": [0.80, 0.81, 0.79], "ciard": [0.78, 0.78]}))
    out = tmp_path / "strength"
    command = [
        sys.executable,
        str(SCRIPT),
        "--baseline",
        str(baseline),
        str(baseline),
        f"{wide}=wide student",
    ]
    done = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-1500:]
    table = out.with_suffix(".md").read_text()
    assert (
        "| main | 85.00 | 70.00 | `ciard` | 0.5 | 2 | 73.00 ± 0.00 | 70.00 (`pgd_at`) | +3.00 | pass |"
        in table
    )
    assert (
        "| wide student | 85.00 | 70.00 | `ciard` | 0.5 | 2 | 78.00 ± 0.00 | 80.00 (`pgd_at`) | -2.00 |"
        in table
    )


def test_a_torn_results_line_is_one_error_line_naming_it(tmp_path: Path) -> None:
    baseline = _write(tmp_path / "b.jsonl", _rows(0.7, {"pgd_at": [0.7, 0.7]}))
    torn = tmp_path / "torn.jsonl"
    torn.write_text(json.dumps(_rows(0.7, {"ciard": [0.7]})[0]) + '\n{"phase": "test"\n')
    out = tmp_path / "o"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--baseline", str(baseline), str(torn), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and f"error: {torn} line 2: not a JSON row" in done.stderr
    assert "Traceback" not in done.stderr and not out.with_suffix(".md").exists()
