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
import time
from pathlib import Path
from typing import Any

from compressor_edge.files import atomic_write_bytes
from rich.console import Console

from compressor.engine.metrics import read_metrics
from compressor.experiments.tables import read_results, render, write_block
from compressor.pipeline.run import run_pipeline
from compressor.pipeline.stage import read_output, stage_output, stages_through
from compressor.recipe_loading import load_recipe
from compressor.rundir import RunDir


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
    metrics = stage_output(RunDir(run_dir), "distill", "metrics")
    records = [r for r in read_metrics(metrics, "val") if "score" in r]
    if not records:
        raise SystemExit(f"{metrics}: no validation records")
    best = max(records, key=lambda r: r["score"])  # max() keeps the first of equal scores, as the trainer
    clean, robust = best["val_clean"], best.get("val_robust", best["val_clean"])
    return {
        "val_clean": clean,
        "val_robust": robust,
        "val_score": (clean + robust) / 2,
        "best_epoch": best["epoch"],
        "val_curve": [[r["epoch"], r["val_clean"], r.get("val_robust")] for r in records],
    }


def choose_rate(rows: list[dict[str, Any]], entry: str, grid: list[float] | None = None) -> float | None:
    """The rate chosen on validation for `entry` among `rows` (within `grid` when given): its tuning rows
    decide (the best validation score), so a rate tried later does not blur the choice; without tuning
    rows, the one rate its test rows name. None when there is no such rate or more than one."""
    mine = [r for r in rows if r["method"] == entry and (grid is None or r["lr"] in grid)]
    tunes = [r for r in mine if r["phase"] == "tune"]
    if tunes:
        return float(max(tunes, key=lambda r: r["val_score"])["lr"])
    rates = {r["lr"] for r in mine if r["phase"] == "test"}
    return float(rates.pop()) if len(rates) == 1 else None


def chosen_rate(results: Path, entry: str, grid: list[float] | None = None) -> float:
    """The learning rate another comparison chose on validation for `entry` (`choose_rate` on its rows)."""
    rows = read_results(results)
    chosen = choose_rate(rows, entry, grid)
    if chosen is None:
        rates = sorted({r["lr"] for r in rows if r["phase"] == "test" and r["method"] == entry})
        raise SystemExit(
            f"--lrs-from {results}: no chosen rate for '{entry}' (no tuning rows; its test rows give "
            f"{rates}): name the grid with --lrs"
        )
    return chosen


def failed_sanity_checks(evaluation: dict[str, Any]) -> list[str]:
    """Names of the evaluation's sanity checks that failed (gradient masking and the like)."""
    return [c["name"] for c in evaluation.get("sanity_checks", []) if not c["passed"]]


def evaluate_again(run_dir: Path) -> None:
    """A run's student evaluated again by the current code (its saved recipe and weights) into its evaluate/.

    Not through the pipeline's stage: after a toolkit upgrade the run's earlier stages may count as stale
    (their recipe digests changed), yet the student they made is the one to judge.
    """
    from compressor.data.loading import load_data
    from compressor.engine.precision import resolve_device
    from compressor.evaluation.student import evaluate_recipe_model
    from compressor.pipeline.artifacts import load_student

    run = RunDir(run_dir)
    recipe = load_recipe(run.recipe)
    device = resolve_device(recipe.run.device)
    data = load_data(recipe.data, recipe.run.seed)
    student = load_student(run, recipe, device).eval()
    folder = stage_output(run, "evaluate", "evaluation").parent  # the evaluate stage's, by its declared name
    evaluate_recipe_model(student, data, recipe, folder, device)


class Comparison:
    """Runs and records one comparison; rows already in the results file are not run again."""

    def __init__(self, args: argparse.Namespace, console: Console) -> None:
        self.args, self.console = args, console
        self.common = list(args.overrides) + ([f"run.device={args.device}"] if args.device else [])
        self.base = load_recipe(args.recipe, self.common)
        own = Path(self.base.run.output_dir) / f"{self.base.run.name}-teachers"
        self.teachers_run = args.teachers_run or own
        self.rows = read_results(args.results) if args.results.is_file() else []

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
            evaluation = read_output(RunDir(run_dir), "evaluate", "evaluation")
            if evaluation is not None:
                row["sanity_failed"] = failed_sanity_checks(evaluation)
                changed = True
        if changed:
            text = "".join(json.dumps(row) + "\n" for row in self.rows)
            atomic_write_bytes(self.args.results, text.encode())

    def prepare_teachers(self, *, train: bool = True) -> list[dict[str, Any]]:
        """Train the shared teachers once; their summary (empty when not trained yet).

        Teachers already in the teachers run are reused as they are (students load them as weight files),
        so a change of toolkit code that alters recipe hashes does not retrain them mid-comparison.
        """
        summary = stage_output(RunDir(self.teachers_run), "teachers", "summary")
        if summary.is_file():
            self.console.print(f"teachers: reusing {summary.parent}")
        elif train and self.args.teachers_run is not None:
            raise SystemExit(f"--teachers-run {self.teachers_run}: no {summary} there to reuse")
        elif train:
            recipe = load_recipe(self.args.recipe, [*self.common, f"run.name={self.teachers_run.name}"])
            run_pipeline(recipe, stages=stages_through("teachers"), console=self.console)
        return json.loads(summary.read_text()) if summary.is_file() else []

    def evaluate_teachers(self) -> None:
        """Each shared teacher under the recipe's own evaluation attacks (one row each, written once)."""
        from compressor.data.loading import load_data
        from compressor.data.sources import as_float
        from compressor.engine.precision import resolve_device
        from compressor.evaluation import AttackSettings, evaluate_robustness
        from compressor.models.build import build_model, data_info

        data = load_data(self.base.data, self.base.run.seed)
        run, cfg = RunDir(self.teachers_run), self.base.evaluate
        n = min(cfg.num_images, len(data.test))
        eps, norm = self.base.evaluation_threat()
        device = resolve_device(self.base.run.device, 0)
        for spec in self.base.teachers:
            if self._find(phase="teacher", method=spec.role):
                continue
            weights = stage_output(run, "teachers", "weights", role=spec.role)
            model = build_model(spec.model, data_info(data), weights, device)
            result = evaluate_robustness(
                model.eval(),
                as_float(data.test.x[:n]),
                data.test.y[:n],
                attacks=cfg.attacks,
                settings=AttackSettings(
                    eps=eps, norm=norm, batch_size=cfg.batch_size, seed=self.base.run.seed, device=device
                ),
                sanity_checks=False,
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
            weights = stage_output(RunDir(self.teachers_run), "teachers", "weights", role=spec.role)
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

    def _run(self, recipe: Any, run_dir: Path, stages: list[str]) -> dict[str, Any]:
        """Run these stages, continuing an interrupted training from its last checkpoint; the wall time.

        A row of a resumed run says so: its `seconds` count only the part run this time.
        """
        resumed = run_dir.exists()
        started = time.perf_counter()
        run_pipeline(recipe, stages=stages, resume=True, console=self.console)
        return {"seconds": round(time.perf_counter() - started, 1)} | ({"resumed": True} if resumed else {})

    def chosen_lr(self, entry: str) -> float | None:
        """The rate this comparison picks for `entry`: `choose_rate` on the `--lrs` grid (the rate
        `--lrs-from`'s comparison chose, with that option); None before any row of it exists."""
        grid = self.args.lrs if self.args.lrs_given else None
        if self.args.lrs_from is not None:
            return chosen_rate(self.args.lrs_from, entry, grid)
        return choose_rate(self.rows, entry, grid)

    def tune(self, entry: str) -> float:
        """Train at every rate with the first seed (unless `--lrs-from` chose); return the chosen rate."""
        seed = self.args.seeds[0]
        for lr in self.args.lrs if self.args.lrs_from is None else []:
            if self._find(phase="tune", method=entry, lr=lr, seed=seed):
                continue
            recipe, run_dir = self._recipe(entry, lr, seed)
            timing = self._run(recipe, run_dir, stages_through("distill"))
            row = {"phase": "tune", "method": entry, "lr": lr, "seed": seed}
            self._record(row | best_validation(run_dir) | timing)
        on_grid = (
            self.chosen_lr(entry) if self.args.lrs_from else choose_rate(self.rows, entry, self.args.lrs)
        )
        assert on_grid is not None  # every rate of the grid has its tuning row now
        return on_grid

    def shown_rows(self, methods: list[str]) -> list[dict[str, Any]]:
        """The rows the table shows: the teachers', each method's test rows at its chosen rate only (a rate
        tried beside it is not mixed in), and the tuning rows of the grid."""
        chosen = {m: self.chosen_lr(m) for m in methods}
        on_grid = set(self.args.lrs) if self.args.lrs_given and self.args.lrs_from is None else None
        return [
            r
            for r in self.rows
            if r["phase"] == "teacher"
            or (r["phase"] == "test" and r["method"] in chosen and r["lr"] == chosen[r["method"]])
            or (r["phase"] == "tune" and (on_grid is None or r["lr"] in on_grid))
        ]

    def test(self, entry: str, lr: float) -> None:
        for seed in self.args.seeds:
            if self._find(phase="test", method=entry, lr=lr, seed=seed):
                continue
            recipe, run_dir = self._recipe(entry, lr, seed)
            timing = self._run(recipe, run_dir, stages_through("evaluate"))
            row = {"phase": "test", "method": entry, "lr": lr, "seed": seed}
            self._record(self._judged(row, run_dir) | timing)

    def recheck(self, methods: list[str]) -> None:
        """Re-run the evaluate stage of these methods' test runs and refresh their rows from it.

        For when the evaluation's checks changed after the rows were written: every row is judged again by
        the current code (same weights, same attack seeds); its training time is kept.
        """
        key = ("phase", "method", "lr", "seed")
        for row in [r for r in self.rows if r["phase"] == "test" and r["method"] in methods]:
            _, run_dir = self._recipe(row["method"], row["lr"], row["seed"], shared_teachers=False)
            evaluate_again(run_dir)
            judged = self._judged(row, run_dir)
            # re-read: another comparison may have appended rows to the file meanwhile
            current = read_results(self.args.results)
            self.rows = [judged if all(r.get(k) == row[k] for k in key) else r for r in current]
            text = "".join(json.dumps(r) + "\n" for r in self.rows)
            atomic_write_bytes(self.args.results, text.encode())

    def _judged(self, row: dict[str, Any], run_dir: Path) -> dict[str, Any]:
        """`row` with the test numbers and failed sanity checks of its run's evaluation.json."""
        evaluation = read_output(RunDir(run_dir), "evaluate", "evaluation")
        kept = {k: v for k, v in row.items() if k != "sanity_failed"}
        return {
            "sanity_failed": failed_sanity_checks(evaluation),
            **kept,
            "clean": evaluation["clean_accuracy"],
            **evaluation["robust_accuracy"],
            "worst_case": evaluation["worst_case_accuracy"],
            "num_images": evaluation.get("num_images", self.base.evaluate.num_images),
            **best_validation(run_dir),
        }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", type=Path)
    parser.add_argument("--methods", default="pgd_at,trades,ard,rslad,mtard,b_mtard,ciard")
    parser.add_argument(
        "--lrs", default=None, help="learning-rate grid, e.g. 0.0003,0.001,0.003 (default: the recipe's)"
    )
    parser.add_argument(
        "--lrs-from",
        type=Path,
        default=None,
        help="reuse each method's rate chosen on validation in this results file (within --lrs if given)",
    )
    parser.add_argument(
        "--teachers-run",
        type=Path,
        default=None,
        help="reuse the teachers of this run (default: RUN_NAME-teachers)",
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
    parser.add_argument(
        "--teachers-only",
        action="store_true",
        help="only train (if needed) and evaluate the shared teachers: their rows, no student",
    )
    parser.add_argument(
        "--recheck",
        action="store_true",
        help="first re-evaluate the --methods' test runs already in --results (after a change of checks)",
    )
    parser.add_argument("overrides", nargs="*", help="extra KEY=VALUE overrides for every run")
    return parser


def _table_header(args: argparse.Namespace, base: Any) -> str:
    """The table's first line: the command that made it and what every run shares."""
    grid = f"--lrs {','.join(f'{v:g}' for v in args.lrs)}"
    rates = f"--lrs-from {args.lrs_from}" + (f" {grid}" if args.lrs_given else "") if args.lrs_from else grid
    return (
        f"`python scripts/compare_methods.py {args.recipe} --methods {args.methods} {rates} "
        f"--seeds {','.join(map(str, args.seeds))} --results {args.results}"
        f"{' ' + ' '.join(args.overrides) if args.overrides else ''}`: {base.data.dataset}, student "
        f"`{base.student.name}`, optimiser {base.optim.name}, {base.train.epochs} epochs, eps {float(base.attack.eps):.4f} "
        f"{base.attack.norm}, evaluation on {base.evaluate.num_images} test images (mean ± sd over seeds; per-seed rows in "
        f"`{args.results}`)."
    )


def _run() -> None:
    args = _parser().parse_intermixed_args()
    args.lrs_given = args.lrs is not None
    args.seeds = [int(s) for s in args.seeds.split(",")]
    console = Console()
    comparison = Comparison(args, console)
    args.lrs = [float(v) for v in args.lrs.split(",")] if args.lrs else [float(comparison.base.optim.lr)]
    methods = args.methods.split(",")
    for entry in methods:  # every run's recipe is checked before the teachers train
        comparison._recipe(entry, args.lrs[0], args.seeds[0], shared_teachers=False)
    teachers = comparison.prepare_teachers(train=not args.render)
    if args.recheck:
        comparison.recheck(methods)
    if not args.render:
        comparison.evaluate_teachers()
        for entry in [] if args.teachers_only else methods:
            comparison.test(entry, comparison.tune(entry))
    comparison.add_sanity_results()
    table = args.results.with_suffix(".md")
    table.write_text(
        render(comparison.shown_rows(methods), teachers, _table_header(args, comparison.base), methods)
    )
    console.print(table.read_text())
    console.print(f"wrote {table}")
    if args.readme:
        write_block(args.readme, args.results.stem, table.read_text())
        console.print(f"updated the {args.results.stem} block of {args.readme}")


def main() -> None:
    """The `scripts/compare_methods.py` entry point: a bad --methods entry or override is one line."""
    from compressor.errors import UserInputError

    try:
        _run()
    except UserInputError as err:  # before any training
        raise SystemExit(f"error: {err}") from None
