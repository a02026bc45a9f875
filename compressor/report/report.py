"""Collect a run's measured results into report.md / report.json and print the final table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from compressor.config.schema import Recipe
from compressor.engine.metrics import read_metrics
from compressor.report.chance import chance_warnings
from compressor.rundir import RunDir


def _load(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def _pct(value: Any) -> str:
    return f"{100 * value:.2f}" if isinstance(value, int | float) else "-"


def _plot_training(run: RunDir, out: Path) -> str | None:
    val = read_metrics(run.stage("distill") / "metrics.jsonl", "val")
    if not val:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    epochs = [r["epoch"] for r in val]
    for key, label in (("val_clean", "clean"), ("val_robust", "PGD (train attack)")):
        if any(key in r for r in val):
            ax.plot(epochs, [100 * r.get(key, float("nan")) for r in val], marker="o", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "training.png", dpi=120)
    plt.close(fig)
    return "training.png"


def _data_line(run: RunDir) -> str:
    """The data the models saw (the run's data.json): classes, size, channels, evaluation transform."""
    info = json.loads(run.data_info.read_text())
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


def write_report(recipe: Recipe, run: RunDir, console: Console) -> dict[str, Any]:
    """Write report.md, report.json and training.png from the run's files; print the final table."""
    out = run.stage("report")
    out.mkdir(parents=True, exist_ok=True)
    teachers = _load(run.stage("teachers") / "summary.json") or []
    evaluation = _load(run.stage("evaluate") / "evaluation.json")
    verify = _load(run.stage("verify") / "verify.json")
    stages = _load(run.root / "stages.json") or {}
    plot = _plot_training(run, out) if recipe.report.plots else None
    eps, _ = recipe.evaluation_threat()
    lines = [
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
    student_clean = evaluation.get("clean_accuracy") if evaluation else None
    warnings = chance_warnings(teachers, student_clean, num_classes(run), smoke=recipe.run.smoke)
    lines += [f"> **WARNING: {message}.**" for message in warnings] + ([""] if warnings else [])
    if teachers:
        lines += [
            "## Teachers (test split)",
            "",
            "| role | model | clean % | PGD-10 % |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {t['role']} | {t['model']} | {_pct(t['test_clean'])} | {_pct(t['test_pgd10'])} |"
            for t in teachers
        ]
        lines.append("")
    rows = _student_rows(evaluation)
    if rows:
        lines += ["## Student robustness (test split)", "", "| evaluation | accuracy % |", "|---|---|"]
        lines += [f"| {name} | {_pct(acc)} |" for name, acc in rows]
        checks = evaluation.get("sanity_checks", []) if evaluation else []
        failed = [c for c in checks if not c.get("passed", True)]
        lines += ["", f"Sanity checks: {len(checks) - len(failed)}/{len(checks)} passed."]
        lines += [f"- **FAILED** {c.get('name')}: {c.get('message')}" for c in failed]
        lines.append("")
    zero_shot = _load(run.stage("evaluate") / "zero_shot.json")
    if zero_shot:
        columns = list(next(iter(zero_shot.values())))
        lines += [
            "## Zero-shot (other data sets, own class names)",
            "",
            "| data set | " + " | ".join(f"{c} %" for c in columns) + " |",
            "|---|" + "---|" * len(columns),
        ]
        lines += [
            f"| {name} | " + " | ".join(_pct(v.get(c)) for c in columns) + " |"
            for name, v in zero_shot.items()
        ]
        lines.append("")
    if plot:
        lines += [f"![validation accuracy]({plot})", ""]
    if verify:
        lines += ["## Exported artifacts", "", (run.stage("verify") / "verify.md").read_text(), ""]
    lines += ["## Stage timings", "", "| stage | seconds |", "|---|---|"]
    lines += [f"| {name} | {info.get('seconds', '-')} |" for name, info in stages.items()]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    payload = {
        "recipe": recipe.run.name,
        "chance_warnings": warnings,
        "teachers": teachers,
        "evaluation": evaluation,
        "zero_shot": zero_shot,
        "verify": verify,
        "stages": stages,
    }
    run.write_json(out / "report.json", payload)
    _print_table(rows, verify, console)
    for message in warnings:
        console.print(f"[bold red]WARNING[/] {message}")
    console.print(f"report: {out / 'report.md'}")
    return {"report": str(out / "report.md")}


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
