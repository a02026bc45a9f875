"""Collect a run's measured results into report.md / report.json and print the final table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console
from rich.table import Table

from compressor.config.schema import Recipe
from compressor.console import warn
from compressor.engine.metrics import read_metrics
from compressor.evaluation.chance import chance_warnings
from compressor.evaluation.teacher_check import teacher_warnings
from compressor.report.plots import best_epoch, plot_eps_curve, plot_robust_vs_latency, plot_training
from compressor.report.precision import precision_lines, precision_rows
from compressor.report.remarks import slower_than_fp32
from compressor.rundir import RunDir


class StageFiles(Protocol):
    """The file a stage declared as output `name` (the pipeline's `StageContext.output`)."""

    def __call__(self, stage: str, name: str, **keys: str) -> Path: ...


def _json(files: StageFiles, stage: str, name: str) -> Any:
    """A stage's JSON output, or None when that stage has not written it."""
    path = files(stage, name)
    return json.loads(path.read_text()) if path.is_file() else None


def _pct(value: Any) -> str:
    return f"{100 * value:.2f}" if isinstance(value, int | float) else "-"


def _plots(
    recipe: Recipe,
    files: StageFiles,
    out: Path,
    teachers: list[dict[str, Any]],
    evaluation: dict[str, Any] | None,
    verify: dict[str, Any] | None,
    val: list[dict[str, Any]],
) -> dict[str, str]:
    """Draw the plots the run's files allow; their file names by kind (training, eps, latency)."""
    curve = _json(files, "evaluate", "robust_vs_eps")
    at_threat = {r["role"]: r for r in _json(files, "evaluate", "teachers") or []}
    teachers = [t | {"test_robust": at_threat[t["role"]]} if t["role"] in at_threat else t for t in teachers]
    drawn = {
        "training": plot_training(val, out / "training.png"),
        "eps": plot_eps_curve(evaluation, curve, teachers, recipe.attack.eps, out / "robust_vs_eps.png"),
        "latency": plot_robust_vs_latency(verify, out / "robust_vs_latency.png"),
    }
    return {kind: name for kind, name in drawn.items() if name}


def _data_line(run: RunDir) -> str:
    """The data the models saw (the run's data.json): classes, size, channels, evaluation transform."""
    info = json.loads(run.data_info.read_text())
    if "image_size" not in info or "in_chans" not in info:  # a data.json from before sizes were recorded
        return f"Data: {len(info.get('class_names', []))} classes."
    size, chans = info["image_size"], info["in_chans"]
    transform = f"; evaluation transform: {info['eval_transform']}" if "eval_transform" in info else ""
    return (
        f"Data: {len(info['class_names'])} classes, {size}x{size}, {chans} channel{'s' * (chans != 1)}"
        f"{transform}."
    )


def num_classes(run: RunDir) -> int:
    """The number of classes of the run's data (its data.json)."""
    return len(json.loads(run.data_info.read_text())["class_names"])


def _student_rows(evaluation: dict[str, Any] | None) -> list[tuple[str, Any]]:
    if not evaluation:
        return []
    rows = [("clean", evaluation.get("clean_accuracy"))]
    rows += [(name, acc) for name, acc in evaluation.get("robust_accuracy", {}).items()]
    if "worst_case_accuracy" in evaluation:
        rows.append(("worst case", evaluation["worst_case_accuracy"]))
    return rows


def _teacher_robust(teacher: dict[str, Any], at_threat: list[dict[str, Any]]) -> str:
    """'83.10 (pgd20)' from the evaluate stage's teacher rows, or '-' before the student is evaluated."""
    row = next((r for r in at_threat if r["role"] == teacher["role"]), None)
    return f"{_pct(row['accuracy'])} ({row['attack']})" if row else "-"


def write_report(recipe: Recipe, run: RunDir, files: StageFiles, console: Console) -> dict[str, Any]:
    """Write report.md, report.json and training.png from the run's files; print the final table."""
    out = files("report", "report").parent
    out.mkdir(parents=True, exist_ok=True)
    teachers = _json(files, "teachers", "summary") or []
    evaluation = _json(files, "evaluate", "evaluation")
    verify = _json(files, "verify", "verify")
    stages = run.records()
    val = read_metrics(files("distill", "metrics"), "val")
    plots = _plots(recipe, files, out, teachers, evaluation, verify, val) if recipe.report.plots else {}
    warnings = _warnings(recipe, run, files, teachers, evaluation)
    zero_shot = _json(files, "evaluate", "zero_shot")
    precision = precision_rows(files("distill", "metrics"), teachers, evaluation)
    remarks = slower_than_fp32(verify)
    rows = _student_rows(evaluation)
    lines = [*_heading(recipe, run), *[f"> **WARNING: {message}.**" for message in warnings]]
    lines += [""] if warnings else []
    lines += _teachers_section(teachers, _json(files, "evaluate", "teachers") or [])
    lines += _student_section(rows, evaluation)
    lines += _zero_shot_section(zero_shot) + precision_lines(precision)
    lines += _training_section(plots, val)
    if verify:
        lines += ["## Exported artifacts", "", files("verify", "table").read_text(), ""]
        lines += [f"> **Remark:** {remark}." for remark in remarks] + ([""] if remarks else [])
    if plots.get("latency"):
        lines += [f"![robust accuracy vs latency per format and runtime]({plots['latency']})", ""]
    lines += ["## Stage timings", "", "| stage | seconds |", "|---|---|"]
    lines += [f"| {name} | {info.get('seconds', '-')} |" for name, info in stages.items()]
    report = files("report", "report")
    report.write_text("\n".join(lines) + "\n")
    payload = {
        "recipe": recipe.run.name,
        "chance_warnings": warnings,
        "teachers": teachers,
        "evaluation": evaluation,
        "zero_shot": zero_shot,
        "precision": precision,
        "verify": verify,
        "remarks": remarks,
        "plots": plots,
        "stages": stages,
    }
    run.write_json(files("report", "summary"), payload)
    _print_table(rows, verify, console)
    for remark in remarks:
        console.print(f"[yellow]remark[/] {remark}")
    for message in warnings:
        warn(console, message)
    console.print(f"report: {report}")
    return {"report": str(report)}


def _heading(recipe: Recipe, run: RunDir) -> list[str]:
    """The title, the recipe's description, what was trained how, and the data line."""
    eps, _ = recipe.evaluation_threat()
    return [
        f"# {recipe.run.name}",
        "",
        recipe.description.strip(),
        "",
        f"Student `{recipe.student.name}` distilled with **{recipe.method.name}** on `{recipe.data.dataset}` "
        f"for {recipe.train.epochs} epochs; training attack {recipe.attack.norm} eps {recipe.attack.eps:.4f}, "
        f"{recipe.attack.steps} steps; evaluation at eps {eps:.4f}.",
        "",
        _data_line(run),
        "",
    ]


def _warnings(
    recipe: Recipe,
    run: RunDir,
    files: StageFiles,
    teachers: list[dict[str, Any]],
    evaluation: dict[str, Any] | None,
) -> list[str]:
    """Models at chance, and teachers too weak to teach the student (not judged in smoke runs)."""
    student_clean = evaluation.get("clean_accuracy") if evaluation else None
    warnings = chance_warnings(teachers, student_clean, num_classes(run), smoke=recipe.run.smoke)
    at_threat = _json(files, "evaluate", "teachers") or []
    if not recipe.run.smoke:  # smoke models barely train: nothing to judge
        warnings += teacher_warnings(teachers, evaluation, at_threat, float(recipe.evaluate.teacher_margin))
    return warnings


def _teachers_section(teachers: list[dict[str, Any]], at_threat: list[dict[str, Any]]) -> list[str]:
    if not teachers:
        return []
    lines = [
        "## Teachers (test split)",
        "",
        "| role | model | clean % | PGD-10 (training attack) % | at the evaluation threat % |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {t['role']} | {t['model']} | {_pct(t['test_clean'])} | {_pct(t['test_pgd10'])} | "
        f"{_teacher_robust(t, at_threat)} |"
        for t in teachers
    ]
    return [*lines, ""]


def _student_section(rows: list[tuple[str, Any]], evaluation: dict[str, Any] | None) -> list[str]:
    """The student's accuracy per evaluation, and its sanity checks (each failed one named)."""
    if not rows:
        return []
    lines = ["## Student robustness (test split)", "", "| evaluation | accuracy % |", "|---|---|"]
    lines += [f"| {name} | {_pct(acc)} |" for name, acc in rows]
    checks = evaluation.get("sanity_checks", []) if evaluation else []
    failed = [c for c in checks if not c.get("passed", True)]
    lines += ["", f"Sanity checks: {len(checks) - len(failed)}/{len(checks)} passed."]
    lines += [f"- **FAILED** {c.get('name')}: {c.get('message')}" for c in failed]
    return [*lines, ""]


def _zero_shot_section(zero_shot: dict[str, Any] | None) -> list[str]:
    if not zero_shot:
        return []
    columns = list(next(iter(zero_shot.values())))
    lines = [
        "## Zero-shot (other data sets, own class names)",
        "",
        "| data set | " + " | ".join(f"{c} %" for c in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    lines += [
        f"| {name} | " + " | ".join(_pct(v.get(c)) for c in columns) + " |" for name, v in zero_shot.items()
    ]
    return [*lines, ""]


def _training_section(plots: dict[str, str], val: list[dict[str, Any]]) -> list[str]:
    """The accuracy-vs-eps plot, the best validation epoch and the training plot."""
    lines = [f"![accuracy vs eps]({plots['eps']})", ""] if plots.get("eps") else []
    best = best_epoch(val)
    if best is not None:
        lines += [
            f"Best validation epoch: {best['epoch']} (score {_pct(best['score'])} %); its weights are exported."
        ]
    if plots.get("training"):
        lines += ["", f"![validation accuracy, best epoch marked]({plots['training']})", ""]
    return lines


def _print_table(rows: list[tuple[str, Any]], verify: dict[str, Any] | None, console: Console) -> None:
    table = Table(title="student robustness (test split)")
    table.add_column("evaluation")
    table.add_column("accuracy %", justify="right")
    for name, acc in rows:
        table.add_row(name, _pct(acc))
    if rows:
        console.print(table)
    if verify:
        console.print(f"export verification: {'[green]passed' if verify.get('passed') else '[red]FAILED'}[/]")
