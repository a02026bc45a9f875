"""The report's plots, drawn from the run's files only: training curves, accuracy vs eps, robust accuracy vs
latency per exported format and runtime. Each returns the file name it wrote, or None when it had no data."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def _figure(path: Path, size: tuple[float, float] = (5.5, 3.6)) -> Iterator[Any]:
    """A matplotlib axis (Agg: no display needed) saved to `path` when the block ends."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size)
    try:
        yield ax
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)


def best_epoch(val: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The validation record the trainer kept as best.safetensors: the first with the highest score."""
    scored = [r for r in val if "score" in r]
    return max(scored, key=lambda r: r["score"], default=None)  # max keeps the first of equals


def plot_training(val: list[dict[str, Any]], path: Path) -> str | None:
    """Validation accuracy per epoch, the best epoch (the weights exported) marked."""
    if not val:
        return None
    with _figure(path, (5, 3.2)) as ax:
        epochs = [r["epoch"] for r in val]
        for key, label in (("val_clean", "clean"), ("val_robust", "PGD (train attack)")):
            if any(key in r for r in val):
                ax.plot(epochs, [100 * r.get(key, float("nan")) for r in val], marker="o", label=label)
        best = best_epoch(val)
        if best is not None:
            ax.axvline(best["epoch"], color="grey", linestyle="--", linewidth=1)
            ax.plot(
                [best["epoch"]],
                [100 * best["score"]],
                marker="*",
                markersize=14,
                color="gold",
                markeredgecolor="black",
                linestyle="none",
                label=f"best: epoch {best['epoch']} (exported)",
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation accuracy (%)")
        ax.legend()
    return path.name


def _student_points(ax: Any, evaluation: dict[str, Any], curve: dict[str, Any] | None, eps: float) -> None:
    """The student's PGD curve over eps (else its clean accuracy) and each evaluated attack at `eps`."""
    if curve:
        xs = [0.0, *curve["eps"]] if 0.0 not in curve["eps"] else curve["eps"]
        clean = [100 * curve["clean_accuracy"]] if 0.0 not in curve["eps"] else []
        robust = [100 * a for a in curve["robust_accuracy"]]
        ax.plot(xs, clean + robust, marker="o", label=f"student, {curve['attack']} curve")
    else:
        clean_point = [100 * evaluation["clean_accuracy"]]
        ax.plot([0.0], clean_point, marker="o", linestyle="none", label="student, clean")
    markers = iter("sDv^P<>")
    for attack, accuracy in evaluation.get("robust_accuracy", {}).items():
        marker = next(markers, "x")
        ax.plot(
            [eps], [100 * accuracy], marker=marker, markersize=9, linestyle="none", label=f"student, {attack}"
        )


def _teacher_points(ax: Any, teacher: dict[str, Any], teacher_eps: float) -> None:
    """A teacher's clean, PGD-10 (training eps) and, when measured, evaluation-threat accuracy."""
    points = [(0.0, teacher.get("test_clean")), (teacher_eps, teacher.get("test_pgd10"))]
    robust = teacher.get("test_robust") or {}  # evaluate/teachers.json's row, when the run measured it
    if isinstance(robust.get("accuracy"), int | float):
        points.append((robust["eps"], robust["accuracy"]))
    known = sorted((x, 100 * y) for x, y in points if isinstance(y, int | float))
    if known:
        attacks = "PGD-10" + (f", {robust['attack']}" if robust.get("attack") else "")
        label = f"teacher {teacher['role']} ({teacher['model']}), {attacks}"
        ax.plot(*zip(*known, strict=True), marker="o", linestyle=":", alpha=0.7, label=label)


def plot_eps_curve(
    evaluation: dict[str, Any] | None,
    curve: dict[str, Any] | None,
    teachers: list[dict[str, Any]],
    teacher_eps: float,
    path: Path,
) -> str | None:
    """Accuracy vs eps: the student's PGD curve, each evaluated attack (AutoAttack too) at the evaluation
    eps, and beside it the teachers' clean, PGD-10 (training eps) and evaluation-threat accuracy."""
    if not evaluation:
        return None
    settings = evaluation.get("settings", {})
    eps, norm = settings.get("eps"), settings.get("norm", "linf")
    with _figure(path) as ax:
        _student_points(ax, evaluation, curve, eps)
        for teacher in teachers:
            _teacher_points(ax, teacher, teacher_eps)
        ax.set_xlabel(f"eps ({norm})")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 100)
        ax.set_title(f"accuracy vs eps, {evaluation.get('n', '?')} test images")
        ax.legend(fontsize=7)
    return path.name


def plot_robust_vs_latency(verify: dict[str, Any] | None, path: Path) -> str | None:
    """Every verified (format, runtime) row: adversarial-probe accuracy against median latency at the
    smallest batch timed; failed rows hollow. The deployment trade-off in one picture."""
    rows = [
        r
        for r in (verify or {}).get("results", [])
        if r.get("latency_ms") and r.get("adv_probe_acc") is not None
    ]
    if not rows:
        return None
    batch = min(int(b) for r in rows for b in r["latency_ms"])
    runtimes = sorted({r["backend"] for r in rows})
    with _figure(path) as ax:
        for row in rows:
            timing = row["latency_ms"].get(str(batch))
            if timing is None:
                continue
            colour = f"C{runtimes.index(row['backend'])}"
            passed = row.get("status") == "pass"
            ax.scatter(
                [timing["median"]],
                [100 * row["adv_probe_acc"]],
                s=60,
                color=colour if passed else "none",
                edgecolors=colour,
                marker="o",
            )
            ax.annotate(
                row["format"],
                (timing["median"], 100 * row["adv_probe_acc"]),
                fontsize=8,
                xytext=(4, 4),
                textcoords="offset points",
            )
        for index, runtime in enumerate(runtimes):
            ax.scatter([], [], color=f"C{index}", label=runtime)
        ax.margins(0.15)
        ax.set_xlabel(f"median latency, batch {batch} (ms)")
        ax.set_ylabel("adversarial-probe accuracy (%)")
        ax.set_title("robust accuracy vs latency (hollow: a gate failed)")
        ax.legend(fontsize=7)
    return path.name
