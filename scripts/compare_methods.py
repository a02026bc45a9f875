"""Compare robust-distillation methods fairly: shared teachers, a tuned learning rate each, several seeds.

    python scripts/compare_methods.py recipes/quickstart.yaml --results results/digits-methods.jsonl
    python scripts/compare_methods.py recipes/mnist-ciard.yaml --methods pgd_at,rslad,ciard@push_scale=1 \
        --lrs 0.0003,0.001,0.003 --seeds 0,1,2 --results results/mnist-methods.jsonl
    python scripts/compare_methods.py recipes/quickstart.yaml --results results/digits-methods.jsonl --render

1. The recipe's teachers are trained once (runs/<name>-teachers) and every student distils from those files.
2. Tuning: each method trains at every learning rate of `--lrs` with the first seed; the rate whose best
   checkpoint scores highest on the validation split ((clean + PGD) / 2, the trainer's own validation) is
   chosen. The test split is never looked at to choose.
3. Testing: each method trains with its chosen rate for every seed (the tuning run is reused for the first
   seed) and is evaluated on the test split with the recipe's attacks.

A method may carry parameters after `@` (`ciard@push_scale=1`): an ablation row. Every finished run appends
one JSON line to `--results` at once; a rerun skips the rows already there, so an interrupted comparison
resumes. `--render` only rebuilds the Markdown table (`--results` with `.md`) from the rows.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from compressor_edge.files import atomic_write_bytes
from rich.console import Console

from compressor.config import load_recipe
from compressor.engine.metrics import read_metrics
from compressor.pipeline.run import run_pipeline


def method_overrides(entry: str, recipe_method: str) -> tuple[str, list[str]]:
    """`name@key=value@...` -> a run-name suffix and the overrides that select that method and parameters."""
    name, *params = entry.split("@")
    bad = [p for p in params if "=" not in p]
    if bad:
        raise SystemExit(
            f"--methods: '{bad[0]}' in '{entry}' is not key=value; write e.g. ciard@push_scale=1"
        )
    own = [] if name == recipe_method else [f"method={{name: {name}}}"]  # else keep the recipe's own params
    suffix = "-".join([name, *(p.replace("=", "") for p in params)])
    return suffix, [*own, *(f"method.{p}" for p in params)]


def best_validation(run_dir: Path) -> dict[str, float]:
    """The validation record of the checkpoint the trainer kept (first maximum of its score)."""
    records = [r for r in read_metrics(run_dir / "distill" / "metrics.jsonl", "val") if "score" in r]
    if not records:
        raise SystemExit(f"{run_dir}: no validation records in distill/metrics.jsonl")
    best = max(records, key=lambda r: r["score"])  # max() keeps the first of equal scores, as the trainer
    clean, robust = best["val_clean"], best.get("val_robust", best["val_clean"])
    return {
        "val_clean": clean,
        "val_robust": robust,
        "val_score": (clean + robust) / 2,
        "best_epoch": best["epoch"],
        "val_curve": [[r["epoch"], r["val_clean"], r.get("val_robust")] for r in records],
    }


def failed_sanity_checks(evaluation: dict[str, Any]) -> list[str]:
    """Names of the evaluation's sanity checks that failed (gradient masking and the like)."""
    return [c["name"] for c in evaluation.get("sanity_checks", []) if not c["passed"]]


class Comparison:
    """Runs and records one comparison; rows already in the results file are not run again."""

    def __init__(self, args: argparse.Namespace, console: Console) -> None:
        self.args, self.console = args, console
        self.common = list(args.overrides) + ([f"run.device={args.device}"] if args.device else [])
        self.base = load_recipe(args.recipe, self.common)
        self.teachers_run = Path(self.base.run.output_dir) / f"{self.base.run.name}-teachers"
        self.rows = (
            [json.loads(line) for line in args.results.read_text().splitlines()]
            if args.results.is_file()
            else []
        )

    def _find(self, **key: Any) -> dict[str, Any] | None:
        return next((r for r in self.rows if all(r.get(k) == v for k, v in key.items())), None)

    def _record(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self.args.results.parent.mkdir(parents=True, exist_ok=True)
        with self.args.results.open("a") as f:
            f.write(json.dumps(row) + "\n")

    def add_sanity_results(self) -> None:
        """Fill `sanity_failed` into test rows written before rows carried it, from their runs' evaluation.json."""
        changed = False
        for row in self.rows:
            if row["phase"] != "test" or "sanity_failed" in row:
                continue
            _, run_dir = self._recipe(row["method"], row["lr"], row["seed"], shared_teachers=False)
            evaluation = run_dir / "evaluate" / "evaluation.json"
            if evaluation.is_file():
                row["sanity_failed"] = failed_sanity_checks(json.loads(evaluation.read_text()))
                changed = True
        if changed:
            text = "".join(json.dumps(row) + "\n" for row in self.rows)
            atomic_write_bytes(self.args.results, text.encode())

    def prepare_teachers(self, *, train: bool = True) -> list[dict[str, Any]]:
        """Train the shared teachers once; their summary (empty when not trained yet).

        Teachers already in the teachers run are reused as they are (students load them as weight files),
        so a change of toolkit code that alters recipe hashes does not retrain them mid-comparison.
        """
        summary = self.teachers_run / "teachers" / "summary.json"
        if summary.is_file():
            self.console.print(f"teachers: reusing {self.teachers_run / 'teachers'}")
        elif train:
            recipe = load_recipe(self.args.recipe, [*self.common, f"run.name={self.teachers_run.name}"])
            run_pipeline(recipe, stages=["teachers"], console=self.console)
        return json.loads(summary.read_text()) if summary.is_file() else []

    def evaluate_teachers(self) -> None:
        """Each shared teacher under the recipe's own evaluation attacks (one row each, written once)."""
        from compressor.data.loading import load_data
        from compressor.data.sources import as_float
        from compressor.engine.precision import resolve_device
        from compressor.evaluation import evaluate_robustness
        from compressor.models.build import build_model, data_info
        from compressor.rundir import RunDir

        data = load_data(self.base.data, self.base.run.seed)
        run, cfg = RunDir(self.teachers_run), self.base.evaluate
        n = min(cfg.num_images, len(data.test))
        eps, norm = self.base.evaluation_threat()
        device = resolve_device(self.base.run.device, 0)
        for spec in self.base.teachers:
            if self._find(phase="teacher", method=spec.role):
                continue
            model = build_model(spec.model, data_info(data), run.teacher_weights(spec.role), device)
            result = evaluate_robustness(
                model.eval(),
                as_float(data.test.x[:n]),
                data.test.y[:n],
                attacks=cfg.attacks,
                eps=eps,
                norm=norm,
                batch_size=cfg.batch_size,
                seed=self.base.run.seed,
                sanity_checks=False,
                device=device,
            ).to_dict()
            row = {
                "phase": "teacher",
                "method": spec.role,
                "model": spec.model.name,
                "clean": result["clean_accuracy"],
            }
            self._record({**row, **result["robust_accuracy"], "num_images": n})

    def _recipe(self, entry: str, lr: float, seed: int, *, shared_teachers: bool = True) -> tuple[Any, Path]:
        """One run's recipe; `shared_teachers=False` keeps the recipe's own teachers (to check it early)."""
        suffix, selected = method_overrides(entry, self.base.method.name)
        teachers = []
        for index, spec in enumerate(self.base.teachers if shared_teachers else []):
            weights = self.teachers_run / "teachers" / f"{spec.role}.safetensors"
            teachers += [f"teachers.{index}.train=null", f"teachers.{index}.model.checkpoint={weights}"]
        name = f"{self.base.run.name}-{suffix}-lr{lr:g}-s{seed}"
        overrides = [
            *self.common,
            f"run.name={name}",
            f"run.seed={seed}",
            f"optim.lr={lr}",
            *selected,
            *teachers,
        ]
        recipe = load_recipe(self.args.recipe, overrides)
        return recipe, Path(recipe.run.output_dir) / name

    def tune(self, entry: str) -> float:
        """Train at every rate with the first seed; return the rate with the best validation score."""
        seed = self.args.seeds[0]
        for lr in self.args.lrs:
            if self._find(phase="tune", method=entry, lr=lr, seed=seed):
                continue
            recipe, run_dir = self._recipe(entry, lr, seed)
            started = time.perf_counter()
            run_pipeline(recipe, stages=["teachers", "distill"], console=self.console)
            seconds = round(time.perf_counter() - started, 1)
            self._record(
                {
                    "phase": "tune",
                    "method": entry,
                    "lr": lr,
                    "seed": seed,
                    **best_validation(run_dir),
                    "seconds": seconds,
                }
            )
        scores = [self._find(phase="tune", method=entry, lr=lr, seed=seed) for lr in self.args.lrs]
        return max(scores, key=lambda r: r["val_score"])["lr"]  # type: ignore[index]

    def test(self, entry: str, lr: float) -> None:
        for seed in self.args.seeds:
            if self._find(phase="test", method=entry, lr=lr, seed=seed):
                continue
            recipe, run_dir = self._recipe(entry, lr, seed)
            started = time.perf_counter()
            run_pipeline(recipe, stages=["teachers", "distill", "evaluate"], console=self.console)
            evaluation = json.loads((run_dir / "evaluate" / "evaluation.json").read_text())
            self._record(
                {
                    "sanity_failed": failed_sanity_checks(evaluation),
                    "phase": "test",
                    "method": entry,
                    "lr": lr,
                    "seed": seed,
                    "clean": evaluation["clean_accuracy"],
                    **{a: v for a, v in evaluation["robust_accuracy"].items()},
                    "worst_case": evaluation["worst_case_accuracy"],
                    "num_images": evaluation.get("num_images", self.base.evaluate.num_images),
                    **best_validation(run_dir),
                    "seconds": round(time.perf_counter() - started, 1),
                }
            )


def _mean_sd(values: list[float]) -> str:
    if len(values) < 2:
        return f"{100 * values[0]:.2f}"
    return f"{100 * statistics.mean(values):.2f} ± {100 * statistics.stdev(values):.2f}"


def _sanity_cell(rows: list[dict[str, Any]]) -> str:
    """'pass', or which seeds failed which evaluation sanity checks ('n/a' for rows that did not record it)."""
    if any("sanity_failed" not in r for r in rows):
        return "n/a"
    failed = {r["seed"]: r["sanity_failed"] for r in rows if r["sanity_failed"]}
    if not failed:
        return "pass"
    names = sorted({name for names in failed.values() for name in names})
    return f"FAIL seed {', '.join(map(str, sorted(failed)))}: {', '.join(names)}"


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
    methods = list(dict.fromkeys(r["method"] for r in tests))
    skip = {
        "phase",
        "method",
        "lr",
        "seed",
        "num_images",
        "seconds",
        "best_epoch",
        "val_clean",
        "val_robust",
        "val_score",
        "val_curve",
        "sanity_failed",
    }
    metrics = [k for k in tests[0] if k not in skip] if tests else []
    head = [
        "method",
        "lr (chosen on val)",
        "seeds",
        *[f"{m} %" for m in metrics],
        "(clean + AA) / 2 %",
        "val score %",
        "sanity checks",
    ]
    lines = [header_line, ""]
    teacher_rows = [r for r in rows if r["phase"] == "teacher"]
    if teacher_rows:
        attacks = [k for k in teacher_rows[0] if k not in {"phase", "method", "model", "clean", "num_images"}]
        lines += [
            "Teachers on the test split, under the same attacks: "
            + ", ".join(
                f"{r['method']} `{r['model']}` {100 * r['clean']:.1f}% clean, "
                + ", ".join(f"{100 * r[a]:.1f}% {a}" for a in attacks)
                for r in teacher_rows
            ),
            "",
        ]
    elif teachers:
        lines += [
            "Teachers: "
            + ", ".join(
                f"{t['role']} `{t['model']}` {100 * t['test_clean']:.1f}% clean / {100 * t['test_pgd10']:.1f}% PGD-10"
                for t in teachers
            ),
            "",
        ]
    lines += [
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    aa = "autoattack" if metrics and "autoattack" in metrics else "worst_case"
    for method in methods:
        mine = [r for r in tests if r["method"] == method]
        cells = [
            f"`{method}`",
            f"{mine[0]['lr']:g}",
            str(len(mine)),
            *[_mean_sd([r[m] for r in mine]) for m in metrics],
            _mean_sd([(r["clean"] + r[aa]) / 2 for r in mine]),
            _mean_sd([r["val_score"] for r in mine]),
            _sanity_cell(mine),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    tunes = [r for r in rows if r["phase"] == "tune"]
    if tunes:
        lines += ["", "Validation score ((clean + PGD) / 2 %, first seed) per learning rate:", ""]
        lrs = sorted({r["lr"] for r in tunes})
        lines += [
            "| method | " + " | ".join(f"lr {lr:g}" for lr in lrs) + " |",
            "|" + "---|" * (len(lrs) + 1),
        ]
        for method in dict.fromkeys(r["method"] for r in tunes):
            by_lr = {r["lr"]: r["val_score"] for r in tunes if r["method"] == method}
            lines.append(
                f"| `{method}` | "
                + " | ".join(f"{100 * by_lr[lr]:.1f}" if lr in by_lr else "" for lr in lrs)
                + " |"
            )
    curves = [r for r in tests if r.get("val_curve") and r["seed"] == tests[0]["seed"]]
    if curves:
        every = max(1, len(curves[0]["val_curve"]) // 10)  # at most ~10 columns, the last epoch always
        for r in curves:
            r["val_curve"] = [
                p for i, p in enumerate(r["val_curve"]) if i % every == every - 1 or p is r["val_curve"][-1]
            ]
        epochs = [e for e, _, _ in curves[0]["val_curve"]]
        lines += [
            "",
            "Validation PGD accuracy % per epoch (first seed, chosen rate): the learning curves",
            "",
        ]
        lines += [
            "| method | " + " | ".join(f"ep {e}" for e in epochs) + " |",
            "|" + "---|" * (len(epochs) + 1),
        ]
        for r in curves:
            cells = [f"{100 * robust:.1f}" if robust is not None else "" for _, _, robust in r["val_curve"]]
            lines.append(f"| `{r['method']}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", type=Path)
    parser.add_argument("--methods", default="pgd_at,trades,ard,rslad,mtard,b_mtard,ciard")
    parser.add_argument(
        "--lrs", default=None, help="learning-rate grid, e.g. 0.0003,0.001,0.003 (default: the recipe's)"
    )
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--device", default=None, help="cpu / cuda (default: the recipe's)")
    parser.add_argument(
        "--results", type=Path, required=True, help="JSONL of per-run rows (appended, resumable)"
    )
    parser.add_argument(
        "--render", action="store_true", help="only rebuild the Markdown table from --results"
    )
    parser.add_argument(
        "--readme", type=Path, default=None, help="also fill the table's marked block in this file"
    )
    parser.add_argument("overrides", nargs="*", help="extra KEY=VALUE overrides for every run")
    args = parser.parse_intermixed_args()
    args.seeds = [int(s) for s in args.seeds.split(",")]
    console = Console()
    comparison = Comparison(args, console)
    args.lrs = [float(v) for v in args.lrs.split(",")] if args.lrs else [float(comparison.base.optim.lr)]
    methods = args.methods.split(",")
    for entry in methods:  # every run's recipe is checked before the teachers train
        comparison._recipe(entry, args.lrs[0], args.seeds[0], shared_teachers=False)
    teachers = comparison.prepare_teachers(train=not args.render)
    if not args.render:
        comparison.evaluate_teachers()
        for entry in methods:
            comparison.test(entry, comparison.tune(entry))
    comparison.add_sanity_results()
    base = comparison.base
    header = (
        f"`python scripts/compare_methods.py {args.recipe} --methods {args.methods} --lrs "
        f"{','.join(f'{v:g}' for v in args.lrs)} --seeds {','.join(map(str, args.seeds))} --results {args.results}"
        f"{' ' + ' '.join(args.overrides) if args.overrides else ''}`: {base.data.dataset}, student "
        f"`{base.student.name}`, optimiser {base.optim.name}, {base.train.epochs} epochs, eps {float(base.attack.eps):.4f} "
        f"{base.attack.norm}, evaluation on {base.evaluate.num_images} test images (mean ± sd over seeds; per-seed rows in "
        f"`{args.results}`)."
    )
    table = args.results.with_suffix(".md")
    table.write_text(render(comparison.rows, teachers, header, methods))
    console.print(table.read_text())
    console.print(f"wrote {table}")
    if args.readme:
        write_block(args.readme, args.results.stem, table.read_text())
        console.print(f"updated the {args.results.stem} block of {args.readme}")


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


if __name__ == "__main__":
    from compressor.errors import UserInputError

    try:
        main()
    except UserInputError as err:  # a bad --methods entry or override: one line, before any training
        raise SystemExit(f"error: {err}") from None
