"""How strong must a teacher be for distillation to pay? Gain over training alone against teacher robustness.

    python scripts/compare_methods.py recipes/fashion-mnist-ciard.yaml --methods rslad,ciard --lrs 0.5 \
        --results results/fashion-mnist-teacher-e2.jsonl run.name=fmnist-t2 teachers.0.train.epochs=2
    python scripts/teacher_strength.py --baseline results/fashion-mnist-methods.jsonl \
        "results/fashion-mnist-teacher-e2.jsonl=2 epochs" "results/fashion-mnist-methods.jsonl=15 epochs" \
        --out results/fashion-mnist-teacher-strength

Each results file (`PATH=LABEL`: LABEL names its setting in the table) is one teacher budget (a comparison
run with its own shared teachers; its `teacher` rows hold the robust teacher's clean and AutoAttack accuracy)
or one student setting (another student size or data set, with its own trained-alone rows). The students
trained alone (methods that read no teacher) come from the file itself where it has them, else from
`--baseline`; each distillation method's gain is its mean (clean + AA) / 2 over seeds minus the best
trained-alone mean, per rate (a rate tried beside the chosen one is its own row). A row
whose seeds failed a sanity check says so (its score is an upper bound; a hollow marker in the plot). Writes
`OUT.md` (the table) and `OUT.png` (gain against the teacher's AutoAttack accuracy, one line per method).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

from compressor.experiments.tables import read_results, sanity_cell, trained_alone


def _robust_teacher(rows: list[dict[str, Any]], path: Path) -> dict[str, Any]:
    teacher = next((r for r in rows if r["phase"] == "teacher" and r["method"] == "robust"), None)
    if teacher is None or "autoattack" not in teacher:
        raise SystemExit(
            f"{path}: no robust teacher row with autoattack (run compare_methods.py on it first)"
        )
    return teacher


def _per_rate(tests: list[dict[str, Any]]) -> dict[tuple[str, float], list[dict[str, Any]]]:
    """The test rows of each (method, rate): a rate tried beside the chosen one stays apart."""
    groups: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for row in tests:
        groups.setdefault((row["method"], row["lr"]), []).append(row)
    return groups


def _score_of(rows: list[dict[str, Any]]) -> list[float]:
    return [(r["clean"] + r["autoattack"]) / 2 for r in rows]


def _best_alone(tests: list[dict[str, Any]]) -> tuple[str, float, bool] | None:
    """The best trained-alone method among test rows: its name, mean score and whether it is masked (the
    highest, masked or not: a masked one only overstates itself, so gains stay lower bounds); None if none."""
    alone = {k: rows for k, rows in _per_rate(tests).items() if trained_alone(k[0])}
    if not alone:
        return None
    best = max(alone, key=lambda k: statistics.mean(_score_of(alone[k])))
    return best[0], statistics.mean(_score_of(alone[best])), sanity_cell(alone[best]) != "pass"


def strength_points(
    baseline: list[dict[str, Any]], budgets: dict[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """One point per (results file, distillation method, rate): teacher accuracy, student score, gain, and
    its sanity checks (a point whose seeds failed one is an upper bound: masked). A file with trained-alone
    rows of its own (another student size or data set) is its own baseline; the others use `baseline`'s."""
    shared = _best_alone([r for r in baseline if r["phase"] == "test"])
    if shared is None:
        raise SystemExit(
            "error: --baseline: no trained-alone method (e.g. pgd_at) in it; name a file that has one"
        )
    points = []
    for name, rows in budgets.items():
        teacher = _robust_teacher(rows, Path(name))
        tests = [r for r in rows if r["phase"] == "test"]
        alone, reference, masked = _best_alone(tests) or shared
        for (method, lr), mine in _per_rate(tests).items():
            if trained_alone(method):
                continue
            values = _score_of(mine)
            points.append(
                {
                    "budget": name,
                    "teacher_clean": teacher["clean"],
                    "teacher_autoattack": teacher["autoattack"],
                    "method": method,
                    "lr": lr,
                    "seeds": len(values),
                    "score": statistics.mean(values),
                    "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
                    "gain": statistics.mean(values) - reference,
                    "sanity": sanity_cell(mine),
                    "alone": alone,
                    "alone_score": reference,
                    "alone_masked": masked,
                    "own_baseline": (alone, reference, masked) != shared,
                }
            )
    return sorted(points, key=lambda p: (p["method"], p["lr"], p["own_baseline"], p["teacher_autoattack"]))


def _score(point: dict[str, Any]) -> str:
    """Mean ± sd over seeds; a single seed has no spread to show."""
    mean = f"{100 * point['score']:.2f}"
    return mean if point["seeds"] == 1 else f"{mean} ± {100 * point['sd']:.2f}"


def budget_file(text: str) -> tuple[Path, str]:
    """`PATH[=LABEL]`: a results file and how the table names its teacher budget (default: the file name)."""
    path, _, label = text.partition("=")
    return Path(path), label or Path(path).stem


def _alone_cell(point: dict[str, Any]) -> str:
    masked = ", masked" if point["alone_masked"] else ""
    return f"{100 * point['alone_score']:.2f} (`{point['alone']}`{masked})"


def render(points: list[dict[str, Any]], command: str) -> str:
    """Markdown: the gain of each method at each teacher strength (and each student or data setting)."""
    if not points:
        return f"{command}\n\nNo distillation rows yet.\n"
    lines = [
        command,
        "",
        "Gain = the method's mean (clean + AA) / 2 minus the best student trained alone in the same setting: "
        "the file's own trained-alone rows where it has them (another student or data set), else the "
        "baseline's. A masked trained-alone score is an upper bound, so the gains against it are lower bounds.",
        "",
        "| setting | teacher clean % | teacher AA % | method | lr | seeds | (clean + AA) / 2 % "
        "| trained alone % | gain (points) | sanity checks |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {p['budget']} | {100 * p['teacher_clean']:.2f} | {100 * p['teacher_autoattack']:.2f} | "
        f"`{p['method']}` | {p['lr']:g} | {p['seeds']} | {_score(p)} | {_alone_cell(p)} | "
        f"{100 * p['gain']:+.2f} | {p['sanity']} |"
        for p in points
    ]
    return "\n".join(lines) + "\n"


def plot(points: list[dict[str, Any]], out: Path) -> None:
    """Gain (points) against the robust teacher's AutoAttack accuracy, one line per method and rate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))

    def series(p: dict[str, Any]) -> tuple[str, float, str]:  # a setting with its own baseline stands apart
        return p["method"], p["lr"], p["budget"] if p["own_baseline"] else ""

    for method, lr, setting in dict.fromkeys(series(p) for p in points):
        mine = [p for p in points if series(p) == (method, lr, setting)]
        line = ax.errorbar(
            [100 * p["teacher_autoattack"] for p in mine],
            [100 * p["gain"] for p in mine],
            yerr=[100 * p["sd"] for p in mine],
            capsize=3,
            label=f"{method} lr {lr:g}" + (f" ({setting})" if setting else ""),
        )
        colour = line.lines[0].get_color()
        for p in mine:  # filled: passed every sanity check; hollow: masked, an upper bound
            passed = p["sanity"] == "pass"
            x, y = 100 * p["teacher_autoattack"], 100 * p["gain"]
            ax.plot(x, y, "o", color=colour, markerfacecolor=colour if passed else "white")
    ax.axhline(0, color="grey", linewidth=1, linestyle="--")
    ax.set_xlabel("robust teacher AutoAttack accuracy %")
    ax.set_ylabel("gain over the student trained alone (points)")
    ax.set_title("hollow: failed a sanity check (an upper bound)", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "budgets",
        nargs="+",
        type=budget_file,
        help="comparison results files, one per teacher budget: PATH or PATH=LABEL (e.g. 'r.jsonl=1 epoch')",
    )
    parser.add_argument(
        "--baseline", type=Path, required=True, help="results file with the trained-alone rows"
    )
    parser.add_argument("--out", type=Path, required=True, help="writes OUT.md and OUT.png")
    args = parser.parse_args()
    missing = [p for p in [args.baseline, *(path for path, _ in args.budgets)] if not p.is_file()]
    if missing:
        raise SystemExit(f"error: {missing[0]}: no such results file")
    points = strength_points(
        read_results(args.baseline), {label: read_results(path) for path, label in args.budgets}
    )
    named = " ".join(f"'{path}={label}'" for path, label in args.budgets)
    command = f"`python scripts/teacher_strength.py --baseline {args.baseline} {named} --out {args.out}`"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(render(points, command))
    if points:
        plot(points, args.out.with_suffix(".png"))
    print(args.out.with_suffix(".md").read_text())
