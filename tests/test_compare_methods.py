"""The method-comparison script's `name@key=value` ablation syntax."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from compressor.experiments.comparison import method_overrides


def test_the_recipe_method_keeps_its_parameters_and_others_are_selected_by_name():
    assert method_overrides("ciard", "ciard") == ("ciard", [])
    assert method_overrides("rslad", "ciard") == ("rslad", ["method={name: rslad}"])


def test_parameters_after_at_become_method_overrides_and_name_the_run():
    suffix, overrides = method_overrides("ciard@push_scale=1@weights=adaptive", "ciard")
    assert suffix == "ciard-push_scale1-weightsadaptive"
    assert overrides == ["method.push_scale=1", "method.weights=adaptive"]


def test_a_parameter_without_a_value_is_one_clear_error():
    with pytest.raises(SystemExit, match="not key=value"):
        method_overrides("ciard@push_scale", "ciard")


def _test_row(**changes: object) -> dict[str, object]:
    """One per-seed test row of a comparison, as the script writes it."""
    row = {"phase": "test", "method": "pgd_at", "lr": 0.1, "seed": 0, "clean": 0.9, "autoattack": 0.5}
    return {**row, "val_score": 0.8, **changes}


def test_the_kept_checkpoint_is_the_first_best_validation_score(tmp_path: Path):
    from compressor.experiments.comparison import best_validation

    distill = tmp_path / "distill"
    distill.mkdir()
    records = [(1, 0.5, 0.2), (2, 0.9, 0.6), (3, 0.95, 0.6), (4, 0.8, 0.4)]
    lines = [
        f'{{"kind": "val", "step": {e}, "epoch": {e}, "val_clean": {c}, "val_robust": {r}, "score": {r}}}'
        for e, c, r in records
    ]
    (distill / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    best = best_validation(tmp_path)
    assert best["best_epoch"] == 2  # ties keep the first, as the trainer's `>` does
    assert best["val_score"] == pytest.approx((0.9 + 0.6) / 2)
    assert [e for e, _, _ in best["val_curve"]] == [1, 2, 3, 4]


def test_the_table_reports_mean_and_sd_over_seeds_with_the_chosen_rate():
    from compressor.experiments.tables import render

    rows = [
        {"phase": "tune", "method": "pgd_at", "lr": 0.1, "seed": 0, "val_score": 0.8},
        {"phase": "tune", "method": "pgd_at", "lr": 0.2, "seed": 0, "val_score": 0.7},
        *[
            {
                "phase": "test",
                "method": "pgd_at",
                "lr": 0.1,
                "seed": s,
                "clean": c,
                "autoattack": a,
                "val_score": 0.8,
            }
            for s, c, a in [(0, 0.90, 0.50), (1, 0.92, 0.52), (2, 0.94, 0.54)]
        ],
    ]
    table = render(rows, [], "header")
    assert "| `pgd_at` | 0.1 | 3 | 92.00 ± 2.00 | 52.00 ± 2.00 | 72.00 ± 2.00 | 80.00 ± 0.00 | n/a |" in table
    assert "| `pgd_at` | 80.0 | 70.0 |" in table


def test_a_resumed_row_first_in_the_file_renders():
    """`resumed` marks a row whose run continued from an earlier one: bookkeeping, not a metric column."""
    from compressor.experiments.tables import render

    rows = [_test_row(resumed=True), _test_row(seed=1)]
    table = render(rows, [], "header")
    assert "| `pgd_at` | 0.1 | 2 | 90.00 ± 0.00 | 50.00 ± 0.00 |" in table and "resumed" not in table


def test_the_readme_block_is_replaced_and_the_rest_kept(tmp_path: Path):
    from compressor.experiments.tables import write_block

    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- table:x -->\nold\n<!-- /table:x -->\noutro\n")
    write_block(readme, "x", "new table\n")
    assert readme.read_text() == "intro\n<!-- table:x -->\nnew table\n<!-- /table:x -->\noutro\n"
    with pytest.raises(SystemExit, match="no '<!-- table:y -->'"):
        write_block(readme, "y", "t")


def test_render_fills_the_readme_block_from_the_rows_without_training(tmp_path: Path):
    import subprocess

    root = Path(__file__).resolve().parents[1]
    results = tmp_path / "cmp.jsonl"
    row = _test_row()
    results.write_text(json.dumps(row) + "\n")
    readme = tmp_path / "README.md"
    readme.write_text("<!-- table:cmp -->\n<!-- /table:cmp -->\n")
    command = [
        sys.executable,
        str(root / "scripts" / "compare_methods.py"),
        str(root / "recipes" / "quickstart.yaml"),
    ]
    command += ["--methods", "pgd_at", "--results", str(results), "--render", "--readme", str(readme)]
    done = subprocess.run([*command, f"run.output_dir={tmp_path / 'runs'}"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-1500:]
    assert "| `pgd_at` | 0.1 | 1 | 90.00 | 50.00 | 70.00 | 80.00 | n/a |" in readme.read_text()
    assert not (tmp_path / "runs").exists()  # rendering trains nothing


def test_teacher_rows_are_stated_with_the_students_attacks():
    from compressor.experiments.tables import render

    rows = [
        {
            "phase": "teacher",
            "method": "robust",
            "model": "small_cnn",
            "clean": 0.96,
            "pgd20": 0.6,
            "autoattack": 0.5,
        },
        _test_row(),
    ]
    table = render(rows, [], "header", ["pgd_at"])
    assert "robust `small_cnn` 96.0% clean, 60.0% pgd20, 50.0% autoattack" in table
    assert "| `pgd_at` | 0.1 | 1 |" in table


def test_a_typo_in_a_method_entry_stops_before_the_teachers_train(tmp_path: Path):
    import subprocess

    root = Path(__file__).resolve().parents[1]
    command = [
        sys.executable,
        str(root / "scripts" / "compare_methods.py"),
        str(root / "recipes" / "quickstart.yaml"),
    ]
    command += ["--methods", "pgd_at,ciard@push_scal=1", "--results", str(tmp_path / "r.jsonl")]
    done = subprocess.run([*command, f"run.output_dir={tmp_path / 'runs'}"], capture_output=True, text=True)
    assert done.returncode == 1
    assert "unknown key 'method.push_scal'; did you mean 'push_scale'?" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "runs").exists()


def test_the_table_says_which_seeds_failed_an_evaluation_sanity_check():
    from compressor.experiments.comparison import failed_sanity_checks
    from compressor.experiments.tables import render

    masked = {
        "sanity_checks": [{"name": "black_box_vs_white_box", "passed": False}, {"name": "x", "passed": True}]
    }
    assert failed_sanity_checks(masked) == ["black_box_vs_white_box"]

    def row(method: str, seed: int, failed: list[str]) -> dict:
        return {
            "phase": "test",
            "method": method,
            "lr": 0.1,
            "seed": seed,
            "clean": 0.9,
            "autoattack": 0.5,
            "val_score": 0.8,
            "sanity_failed": failed,
        }

    rows = [row("pgd_at", 0, []), row("pgd_at", 1, ["black_box_vs_white_box"]), row("rslad", 0, [])]
    table = render(rows, [], "header")
    assert "| FAIL seed 1: black_box_vs_white_box |" in table
    assert table.count("| pass |") == 1


def _seeded(method: str, scores: list[float], failed: list[str] | None = None) -> list[dict]:
    """Test rows whose (clean + autoattack) / 2 per seed are `scores` (clean fixed at 0.9)."""
    return [
        {
            "phase": "test",
            "method": method,
            "lr": 0.1,
            "seed": seed,
            "clean": 0.9,
            "autoattack": 2 * score - 0.9,
            "val_score": 0.8,
            "sanity_failed": failed or [],
        }
        for seed, score in enumerate(scores)
    ]


def test_only_rows_that_pass_their_sanity_checks_are_ranked():
    from compressor.experiments.tables import rank_methods, render

    rows = [
        *_seeded("pgd_at", [0.80, 0.81, 0.79], failed=["black_box_vs_white_box"]),  # best, but masked
        *_seeded("rslad", [0.70, 0.71, 0.69]),
        *_seeded("ciard", [0.72, 0.73, 0.71]),
    ]
    assert rank_methods(rows, "autoattack") == {"ciard": 1, "rslad": 2}
    table = render(rows, [], "header")
    assert "| masked | `pgd_at` |" in table and "| 1 | `ciard` |" in table and "| 2 | `rslad` |" in table
    assert "trails the best one trained alone (`pgd_at`, masked: an upper bound) by 8.00 points" in table
    assert "its true score may be lower: no verdict." in table


def test_a_distilled_student_that_beats_a_masked_baseline_gets_a_verdict():
    from compressor.experiments.tables import verdict

    masked = _seeded("pgd_at", [0.70, 0.71, 0.69], failed=["black_box_vs_white_box"])
    lines = verdict([*masked, *_seeded("rslad", [0.75, 0.76, 0.74])], "autoattack", [])
    assert "beats the best one trained alone (`pgd_at`, masked: an upper bound) by 5.00 points" in lines[0]
    assert "no verdict" not in lines[0]
    masked_distiller = verdict(
        [*masked, *_seeded("rslad", [0.9, 0.9], failed=["gradients"])], "autoattack", []
    )
    assert masked_distiller[0].startswith(
        "Verdict: none: no distillation method measured over 2+ seeds passed"
    )
    no_baseline = verdict(_seeded("rslad", [0.75, 0.76, 0.74]), "autoattack", [])
    assert no_baseline == [
        "Verdict: none: no student trained alone was measured over 2+ seeds to compare with."
    ]


def test_verdict_states_the_gain_over_training_alone_against_two_sd():
    from compressor.experiments.tables import verdict

    alone = _seeded("pgd_at", [0.70, 0.71, 0.69])
    clear = verdict([*alone, *_seeded("rslad", [0.75, 0.76, 0.74])], "autoattack", [])
    assert "`rslad`) beats the best one trained alone (`pgd_at`) by 5.00 points" in clear[0]
    assert "sd of the difference 1.41; more than two sd" in clear[0]
    noisy = verdict([*alone, *_seeded("ciard", [0.74, 0.70, 0.72])], "autoattack", [])
    assert "by 2.00 points" in noisy[0] and "not more than two sd" in noisy[0]
    weak = {"phase": "teacher", "method": "robust", "clean": 0.8, "autoattack": 0.45}
    warned = verdict([*alone, *_seeded("ciard", [0.74, 0.70, 0.72])], "autoattack", [weak])
    assert warned[1].startswith("WARNING: the robust teacher (45.00% autoattack) is not more robust")


def test_rates_chosen_by_another_comparison_are_reused(tmp_path: Path):
    from compressor.experiments.comparison import chosen_rate

    results = tmp_path / "main.jsonl"
    rows = [
        {"phase": "tune", "method": "ciard", "lr": 0.1, "val_score": 0.70},
        {"phase": "tune", "method": "ciard", "lr": 0.5, "val_score": 0.75},
        {"phase": "test", "method": "ciard", "lr": 0.5, "seed": 0},
        {"phase": "tune", "method": "ciard", "lr": 1.0, "val_score": 0.76},  # a grid extended later
        {"phase": "test", "method": "ciard", "lr": 1.0, "seed": 0},
        {"phase": "test", "method": "pgd_at", "lr": 0.1, "seed": 0},  # copied rows: no tuning rows
        {"phase": "test", "method": "trades", "lr": 0.1, "seed": 0},
        {"phase": "test", "method": "trades", "lr": 0.5, "seed": 0},
    ]
    results.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert chosen_rate(results, "ciard") == 1.0  # validation decides, not the rate with most test rows
    assert chosen_rate(results, "ciard", [0.1, 0.5]) == 0.5  # within the grid asked for
    assert chosen_rate(results, "pgd_at") == 0.1
    with pytest.raises(SystemExit, match="no chosen rate for 'rslad'"):
        chosen_rate(results, "rslad")
    with pytest.raises(SystemExit, match=r"'trades'.*\[0.1, 0.5\]\): name the grid with --lrs"):
        chosen_rate(results, "trades")


def test_the_table_shows_each_method_at_its_chosen_rate_only(tmp_path: Path):
    """A rate tried beside the chosen one (a grid extended later) must not be averaged into its row."""
    import argparse

    from rich.console import Console

    from compressor.experiments.comparison import Comparison
    from compressor.experiments.tables import render

    root = Path(__file__).resolve().parents[1]
    results = tmp_path / "cmp.jsonl"
    rows = [
        {"phase": "tune", "method": "ciard", "lr": 0.1, "seed": 0, "val_score": 0.70},
        {"phase": "tune", "method": "ciard", "lr": 0.5, "seed": 0, "val_score": 0.75},
        {"phase": "tune", "method": "ciard", "lr": 1.0, "seed": 0, "val_score": 0.76},
        *[{**r, "lr": 0.5} for r in _seeded("ciard", [0.71, 0.72, 0.73])],
        *[{**r, "lr": 1.0} for r in _seeded("ciard", [0.60])],
    ]
    results.write_text("".join(json.dumps(r) + "\n" for r in rows))

    def shown(lrs: list[float]) -> list[dict]:
        args = argparse.Namespace(
            recipe=root / "recipes" / "quickstart.yaml",
            results=results,
            overrides=[f"run.output_dir={tmp_path / 'runs'}"],
            device=None,
            teachers_run=None,
            lrs_from=None,
            lrs_given=True,
            lrs=lrs,
            seeds=[0, 1, 2],
        )
        return Comparison(args, Console(quiet=True)).shown_rows(["ciard"])

    first_grid = shown([0.1, 0.5])
    assert {(r["phase"], r["lr"]) for r in first_grid} == {("tune", 0.1), ("tune", 0.5), ("test", 0.5)}
    table = render(first_grid, [], "header", ["ciard"])
    assert "| 1 | `ciard` | 0.5 | 3 |" in table and "| 72.00 ± 1.00 |" in table and "lr 1 |" not in table
    assert {r["lr"] for r in shown([0.1, 0.5, 1.0]) if r["phase"] == "test"} == {1.0}


def test_recheck_judges_existing_runs_again_and_keeps_their_training_time(tmp_path: Path, monkeypatch):
    import argparse

    from rich.console import Console

    import compressor.experiments.comparison as comparison_module
    from compressor.experiments.comparison import Comparison

    root = Path(__file__).resolve().parents[1]
    results = tmp_path / "cmp.jsonl"
    masked = {"sanity_failed": ["black_box_vs_white_box"], "phase": "test", "method": "pgd_at", "lr": 0.1}
    rows = [{**masked, "seed": 0, "clean": 0.5, "seconds": 60.0}, {**masked, "method": "trades", "seed": 0}]
    results.write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = argparse.Namespace(
        recipe=root / "recipes" / "quickstart.yaml",
        results=results,
        overrides=[f"run.output_dir={tmp_path / 'runs'}"],
        device=None,
        teachers_run=None,
    )
    comparison = Comparison(args, Console(quiet=True))
    evaluated = []

    def evaluate_again(run_dir: Path) -> None:
        evaluated.append(run_dir.name)
        (run_dir / "evaluate").mkdir(parents=True)
        evaluation = {
            "clean_accuracy": 0.8,
            "robust_accuracy": {"autoattack": 0.6},
            "worst_case_accuracy": 0.6,
            "sanity_checks": [{"name": "black_box_vs_white_box", "passed": True}],
        }
        (run_dir / "evaluate" / "evaluation.json").write_text(json.dumps(evaluation))
        (run_dir / "distill").mkdir()
        val = {"kind": "val", "epoch": 1, "val_clean": 0.7, "val_robust": 0.5, "score": 0.6}
        (run_dir / "distill" / "metrics.jsonl").write_text(json.dumps(val) + "\n")

    monkeypatch.setattr(comparison_module, "evaluate_again", evaluate_again)
    comparison.recheck(["pgd_at"])
    assert evaluated == ["quickstart-pgd_at-lr0.1-s0"]  # only the methods asked for
    written = [json.loads(line) for line in results.read_text().splitlines()]
    assert (
        written[0]["sanity_failed"] == [] and written[0]["clean"] == 0.8 and written[0]["autoattack"] == 0.6
    )
    assert written[0]["seconds"] == 60.0 and written[0]["best_epoch"] == 1
    assert written[1] == rows[1]  # trades: not asked for, untouched


def test_a_method_with_one_seed_takes_no_part_in_the_verdict():
    from compressor.experiments.tables import verdict

    rows = [
        *_seeded("pgd_at", [0.70, 0.71, 0.69]),
        *_seeded("rslad", [0.66, 0.67, 0.65]),
        *_seeded("ciard", [0.9]),
    ]
    lines = verdict(rows, "autoattack", [])
    assert "(`rslad`) trails" in lines[0] and "nan" not in lines[0]


def test_an_interrupted_run_continues_from_its_checkpoint_and_its_row_says_so(tmp_path: Path, monkeypatch):
    import argparse

    import torch
    from rich.console import Console
    from safetensors.torch import save_file

    import compressor.experiments.comparison as comparison_module
    from compressor.experiments.comparison import Comparison

    root = Path(__file__).resolve().parents[1]
    args = argparse.Namespace(
        recipe=root / "recipes" / "quickstart.yaml",
        results=tmp_path / "cmp.jsonl",
        overrides=[f"run.output_dir={tmp_path / 'runs'}"],
        device=None,
        teachers_run=None,
        lrs_from=None,
        lrs_given=True,
        lrs=[0.1, 0.2],
        seeds=[0],
    )
    comparison = Comparison(args, Console(quiet=True))
    calls = []

    def run_pipeline(recipe, *, stages, resume=False, console=None):
        calls.append(resume)
        distill = Path(recipe.run.output_dir) / recipe.run.name / "distill"
        distill.mkdir(parents=True, exist_ok=True)
        val = {"kind": "val", "epoch": 1, "val_clean": 0.7, "val_robust": 0.5, "score": 0.6}
        (distill / "metrics.jsonl").write_text(json.dumps(val) + "\n")

    monkeypatch.setattr(comparison_module, "run_pipeline", run_pipeline)
    teachers = tmp_path / "runs" / "quickstart-teachers" / "teachers"
    teachers.mkdir(parents=True)
    for role in ("robust", "clean"):
        save_file({"w": torch.zeros(1)}, teachers / f"{role}.safetensors")
    (tmp_path / "runs" / "quickstart-ciard-lr0.2-s0").mkdir()  # interrupted before
    comparison.tune("ciard")
    assert calls == [True, True]  # never restarted from scratch: a checkpoint there is continued
    rows = [json.loads(line) for line in args.results.read_text().splitlines()]
    assert [r.get("resumed", False) for r in rows] == [False, True]


def test_teachers_only_evaluates_the_shared_teachers_and_trains_no_student(tmp_path: Path, monkeypatch):
    import compressor.experiments.comparison as comparison_module
    from compressor.experiments.comparison import Comparison

    root = Path(__file__).resolve().parents[1]
    calls: list[str] = []
    monkeypatch.setattr(
        Comparison, "prepare_teachers", lambda self, train=True: calls.append("prepare") or []
    )
    monkeypatch.setattr(Comparison, "evaluate_teachers", lambda self: calls.append("evaluate"))
    monkeypatch.setattr(Comparison, "tune", lambda self, entry: calls.append(f"tune {entry}") or 0.1)
    monkeypatch.setattr(Comparison, "test", lambda self, entry, lr: calls.append(f"test {entry}"))
    argv = [str(root / "recipes" / "quickstart.yaml"), "--methods", "pgd_at,rslad"]
    argv += ["--results", str(tmp_path / "r.jsonl"), f"run.output_dir={tmp_path / 'runs'}"]
    monkeypatch.setattr(sys, "argv", ["compare_methods.py", "--teachers-only", *argv])
    comparison_module._run()
    assert calls == ["prepare", "evaluate"]
    monkeypatch.setattr(sys, "argv", ["compare_methods.py", *argv])
    calls.clear()
    comparison_module._run()
    assert calls == ["prepare", "evaluate", "tune pgd_at", "test pgd_at", "tune rslad", "test rslad"]


def test_a_torn_results_file_is_one_error_line_and_is_left_as_it_was(tmp_path: Path):
    import subprocess

    root = Path(__file__).resolve().parents[1]
    results = tmp_path / "cmp.jsonl"
    torn = json.dumps(_test_row()) + '\n{"phase": "test", "meth\n'
    results.write_text(torn)
    command = [
        sys.executable,
        str(root / "scripts" / "compare_methods.py"),
        str(root / "recipes" / "quickstart.yaml"),
    ]
    command += [
        "--methods",
        "pgd_at",
        "--results",
        str(results),
        "--render",
        f"run.output_dir={tmp_path / 'runs'}",
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 1 and f"error: {results} line 2: not a JSON row" in done.stderr
    assert "Traceback" not in done.stderr and results.read_text() == torn
