"""The comparison tables: mean ± sd per method, ranks over sanity-passing rows, the verdict in words."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any


def read_results(path: Path) -> list[dict[str, Any]]:
    """The rows of a results file (JSON lines); a line that is not a JSON object is one error line naming it."""
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as error:
            raise SystemExit(
                f"error: {path} line {number}: not a JSON row ({error}); fix or remove it"
            ) from None
        if not isinstance(row, dict):
            raise SystemExit(f"error: {path} line {number}: not a JSON object; fix or remove it")
        rows.append(row)
    return rows


def _mean_sd(values: list[float]) -> str:
    if len(values) < 2:
        return f"{100 * values[0]:.2f}"
    return f"{100 * statistics.mean(values):.2f} ± {100 * statistics.stdev(values):.2f}"


def sanity_cell(rows: list[dict[str, Any]]) -> str:
    """'pass', or which seeds failed which evaluation sanity checks ('n/a' for rows that did not record it)."""
    if any("sanity_failed" not in r for r in rows):
        return "n/a"
    failed = {r["seed"]: r["sanity_failed"] for r in rows if r["sanity_failed"]}
    if not failed:
        return "pass"
    names = sorted({name for names in failed.values() for name in names})
    return f"FAIL seed {', '.join(map(str, sorted(failed)))}: {', '.join(names)}"


def _scores(rows: list[dict[str, Any]], aa: str) -> list[float]:
    return [(r["clean"] + r[aa]) / 2 for r in rows]


def method_scores(
    tests: list[dict[str, Any]], aa: str, *, passing_only: bool = True
) -> dict[str, list[float]]:
    """(clean + AA) / 2 per seed of every method (with `passing_only`, of those whose every seed passed its
    sanity checks)."""
    methods = dict.fromkeys(r["method"] for r in tests)
    mine = {m: [r for r in tests if r["method"] == m] for m in methods}
    return {m: _scores(rs, aa) for m, rs in mine.items() if not passing_only or sanity_cell(rs) == "pass"}


def rank_methods(tests: list[dict[str, Any]], aa: str) -> dict[str, int]:
    """Rank 1.. by mean (clean + AA) / 2, over methods that passed every sanity check (the rest are masked)."""
    passing = method_scores(tests, aa)
    order = sorted(passing, key=lambda m: -statistics.mean(passing[m]))
    return {m: i + 1 for i, m in enumerate(order)}


def trained_alone(entry: str) -> bool:
    from compressor.methods.registry import method_info

    return not method_info(entry.split("@")[0]).teacher_roles


def _best(scores: dict[str, list[float]]) -> str:
    return max(scores, key=lambda m: statistics.mean(scores[m]))


def verdict(tests: list[dict[str, Any]], aa: str, teacher_rows: list[dict[str, Any]]) -> list[str]:
    """The comparison's answer in words: does the best distilled student beat the best one trained alone?

    Distilled rows count only when they pass their sanity checks. A trained-alone row that failed one still
    bounds the baseline from above (a masked evaluation can only overstate robustness, and its AutoAttack
    already counts what Square found), so a distilled student that beats it beats the baseline; one that
    trails it gets no verdict. Only methods measured over two seeds or more take part (a spread is needed).
    """
    seeded = {m: v for m, v in method_scores(tests, aa, passing_only=False).items() if len(v) > 1}
    passing = {m: v for m, v in method_scores(tests, aa).items() if m in seeded}
    distilled = {m: v for m, v in passing.items() if not trained_alone(m)}
    alone = {m: v for m, v in passing.items() if trained_alone(m)}
    bounds = {m: v for m, v in seeded.items() if trained_alone(m)}
    if not bounds:
        return ["Verdict: none: no student trained alone was measured over 2+ seeds to compare with."]
    if not distilled:
        return [
            "Verdict: none: no distillation method measured over 2+ seeds passed its sanity checks on "
            "every seed (a masked score is an upper bound: not ranked)."
        ]
    best_d = _best(distilled)
    best_a = _best({**bounds, **alone})  # the highest baseline, masked or not
    masked = best_a not in alone
    gain = statistics.mean(distilled[best_d]) - statistics.mean(bounds[best_a])
    sds = [statistics.stdev(v) if len(v) > 1 else float("nan") for v in (distilled[best_d], bounds[best_a])]
    sd_gain = (sds[0] ** 2 + sds[1] ** 2) ** 0.5
    clear = abs(gain) > 2 * sd_gain  # the difference, either way, beyond two sd
    what = f"the best one trained alone (`{best_a}`{', masked: an upper bound' if masked else ''})"
    line = (
        f"Verdict: the best distilled student (`{best_d}`) {'beats' if gain > 0 else 'trails'} {what} by "
        f"{100 * abs(gain):.2f} points of (clean + AA) / 2 (sd of the difference {100 * sd_gain:.2f}; "
        f"{'more' if clear else 'not more'} than two sd)"
    )
    if masked and gain <= 0:
        line += "; the baseline failed a sanity check, so its true score may be lower: no verdict"
    lines = [line + "."]
    robust = next((t for t in teacher_rows if t["method"] == "robust" and aa in t), None)
    if robust is not None:
        alone_aa = max(statistics.mean(r[aa] for r in tests if r["method"] == m) for m in bounds)
        if robust[aa] <= alone_aa:
            lines.append(
                f"WARNING: the robust teacher ({100 * robust[aa]:.2f}% {aa}) is not more robust than the "
                f"student trained alone ({100 * alone_aa:.2f}%): it has little to teach."
            )
    return lines


_NOT_METRICS = {
    "phase",
    "method",
    "lr",
    "seed",
    "num_images",
    "seconds",
    "resumed",
    "best_epoch",
    "val_clean",
    "val_robust",
    "val_score",
    "val_curve",
    "sanity_failed",
}


def render(
    rows: list[dict[str, Any]],
    teachers: list[dict[str, Any]],
    header_line: str,
    order: list[str] | None = None,
) -> str:
    """Markdown: one row per method with its chosen rate, mean ± sd over seeds of every test metric."""
    rows = [dict(r) for r in rows if r["phase"] == "teacher" or order is None or r["method"] in order]
    rows.sort(key=lambda r: order.index(r["method"]) if order and r["method"] in order else -1)
    tests = [r for r in rows if r["phase"] == "test"]
    teacher_rows = [r for r in rows if r["phase"] == "teacher"]
    lines = [header_line, "", *_teachers_lines(teacher_rows, teachers)]
    lines += _methods_table(tests, teacher_rows)
    lines += _tuning_table([r for r in rows if r["phase"] == "tune"])
    lines += _curves_table(tests)
    return "\n".join(lines) + "\n"


def _teachers_lines(teacher_rows: list[dict[str, Any]], teachers: list[dict[str, Any]]) -> list[str]:
    """The teachers' test accuracies: from their rows (the students' attacks), else the teachers stage's."""
    if teacher_rows:
        attacks = [k for k in teacher_rows[0] if k not in {"phase", "method", "model", "clean", "num_images"}]
        described = (
            f"{r['method']} `{r['model']}` {100 * r['clean']:.1f}% clean, "
            + ", ".join(f"{100 * r[a]:.1f}% {a}" for a in attacks)
            for r in teacher_rows
        )
        return ["Teachers on the test split, under the same attacks: " + ", ".join(described), ""]
    if teachers:
        described = (
            f"{t['role']} `{t['model']}` {100 * t['test_clean']:.1f}% clean / {100 * t['test_pgd10']:.1f}% PGD-10"
            for t in teachers
        )
        return ["Teachers: " + ", ".join(described), ""]
    return []


def _methods_table(tests: list[dict[str, Any]], teacher_rows: list[dict[str, Any]]) -> list[str]:
    """One row per method (rank, chosen rate, mean ± sd of every metric, sanity checks), then the verdict."""
    metrics = [k for k in tests[0] if k not in _NOT_METRICS] if tests else []
    head = [
        "rank",
        "method",
        "lr (chosen on val)",
        "seeds",
        *[f"{m} %" for m in metrics],
        "(clean + AA) / 2 %",
        "val score %",
        "sanity checks",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    aa = "autoattack" if metrics and "autoattack" in metrics else "worst_case"
    ranks = rank_methods(tests, aa)
    for method in dict.fromkeys(r["method"] for r in tests):
        mine = [r for r in tests if r["method"] == method]
        cells = [
            str(ranks[method]) if method in ranks else "masked",
            f"`{method}`",
            f"{mine[0]['lr']:g}",
            str(len(mine)),
            *[_mean_sd([r[m] for r in mine]) for m in metrics],
            _mean_sd([(r["clean"] + r[aa]) / 2 for r in mine]),
            _mean_sd([r["val_score"] for r in mine]),
            sanity_cell(mine),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, "", *verdict(tests, aa, teacher_rows)]


def _titled_table(title: str, columns: list[str], rows: list[tuple[str, list[str]]]) -> list[str]:
    """A blank line, `title`, and a Markdown table of one `method` column then `columns`."""
    lines = ["", title, "", "| method | " + " | ".join(columns) + " |", "|" + "---|" * (len(columns) + 1)]
    return lines + [f"| `{method}` | " + " | ".join(cells) + " |" for method, cells in rows]


def _tuning_table(tunes: list[dict[str, Any]]) -> list[str]:
    """Each method's validation score per learning rate tried (first seed)."""
    if not tunes:
        return []
    lrs = sorted({r["lr"] for r in tunes})
    rows = []
    for method in dict.fromkeys(r["method"] for r in tunes):
        by_lr = {r["lr"]: r["val_score"] for r in tunes if r["method"] == method}
        rows.append((method, [f"{100 * by_lr[lr]:.1f}" if lr in by_lr else "" for lr in lrs]))
    title = "Validation score ((clean + PGD) / 2 %, first seed) per learning rate:"
    return _titled_table(title, [f"lr {lr:g}" for lr in lrs], rows)


def _curves_table(tests: list[dict[str, Any]]) -> list[str]:
    """Validation PGD accuracy per epoch of each method's first-seed run (at most ~10 columns)."""
    curves = [r for r in tests if r.get("val_curve") and r["seed"] == tests[0]["seed"]]
    if not curves:
        return []
    every = max(1, len(curves[0]["val_curve"]) // 10)  # at most ~10 columns, the last epoch always

    def shown(curve: list[Any]) -> list[Any]:
        return [p for i, p in enumerate(curve) if i % every == every - 1 or i == len(curve) - 1]

    epochs = [e for e, _, _ in shown(curves[0]["val_curve"])]
    rows = [
        (
            r["method"],
            [f"{100 * robust:.1f}" if robust is not None else "" for _, _, robust in shown(r["val_curve"])],
        )
        for r in curves
    ]
    title = "Validation PGD accuracy % per epoch (first seed, chosen rate): the learning curves"
    return _titled_table(title, [f"ep {e}" for e in epochs], rows)


def write_block(path: Path, name: str, text: str) -> None:
    """Replace what lies between `<!-- table:NAME -->` and `<!-- /table:NAME -->` in a Markdown file."""
    start, end = f"<!-- table:{name} -->", f"<!-- /table:{name} -->"
    doc = path.read_text()
    if start not in doc or end not in doc:
        raise SystemExit(
            f"{path}: no '{start}' ... '{end}' block to fill; add the two markers where the table goes"
        )
    head, rest = doc.split(start, 1)
    path.write_text(f"{head}{start}\n{text}{end}{rest.split(end, 1)[1]}")
