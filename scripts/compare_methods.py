"""Compare distillation methods on one recipe: same teachers, same student, same budget, same evaluation.

    python scripts/compare_methods.py recipes/quickstart.yaml --methods ciard,pgd_at,ard,rslad,mtard
    python scripts/compare_methods.py recipes/mnist-ciard.yaml --device cuda --out results/mnist-methods.md
    python scripts/compare_methods.py recipes/mnist-ciard.yaml --methods ciard,ciard@push_scale=1,rslad

A method may carry parameters after `@` (`ciard@push_scale=1@weights=adaptive`): an ablation row.

The teachers are prepared once (the recipe's teachers stage, in runs/<name>-teachers) and every method
distils from those same files; each student is then evaluated with the recipe's attacks. The table it
writes is what the README quotes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from compressor.config import load_recipe
from compressor.pipeline.run import run_pipeline


def _teacher_overrides(teachers_run: Path, roles: list[str]) -> list[str]:
    out = []
    for index, role in enumerate(roles):
        out += [
            f"teachers.{index}.train=null",
            f"teachers.{index}.model.checkpoint={teachers_run / 'teachers' / f'{role}.safetensors'}",
        ]
    return out


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", type=Path)
    parser.add_argument("--methods", default="ciard,pgd_at,ard,rslad,mtard")
    parser.add_argument("--device", default=None, help="cpu / cuda (default: the recipe's)")
    parser.add_argument("--out", type=Path, default=None, help="Markdown table to write")
    parser.add_argument("overrides", nargs="*", help="extra KEY=VALUE overrides for every run")
    args = parser.parse_intermixed_args()
    console = Console()
    common = list(args.overrides) + ([f"run.device={args.device}"] if args.device else [])
    base = load_recipe(args.recipe, common)
    teachers_run = Path(base.run.output_dir) / f"{base.run.name}-teachers"
    teacher_recipe = load_recipe(args.recipe, [*common, f"run.name={teachers_run.name}"])
    run_pipeline(teacher_recipe, stages=["teachers"], console=console)
    roles = [t.role for t in base.teachers]
    rows = []
    for method in args.methods.split(","):
        suffix, selected = method_overrides(method, base.method.name)
        overrides = [
            *common,
            f"run.name={base.run.name}-{suffix}",
            *selected,
            *_teacher_overrides(teachers_run, roles),
        ]
        recipe = load_recipe(args.recipe, overrides)
        started = time.perf_counter()
        run_pipeline(recipe, stages=["teachers", "distill", "evaluate"], console=console)
        evaluation = json.loads(
            (Path(recipe.run.output_dir) / recipe.run.name / "evaluate" / "evaluation.json").read_text()
        )
        rows.append({**evaluation, "method": method, "seconds": round(time.perf_counter() - started, 1)})
    teachers = json.loads((teachers_run / "teachers" / "summary.json").read_text())
    attacks = list(rows[0]["robust_accuracy"])
    header = ["method", "clean %", *[f"{a} %" for a in attacks], "worst case %", "distill+eval s"]
    lines = [
        f"Recipe `{args.recipe}` ({base.data.dataset}, student `{base.student.name}`, {base.train.epochs} epochs, "
        f"eps {base.attack.eps:.4f} {base.attack.norm}, {len(rows[0].get('labels', [])) or base.evaluate.num_images} "
        f"test images); teachers: "
        + ", ".join(
            f"{t['role']} `{t['model']}` {100 * t['test_clean']:.1f}% clean / "
            f"{100 * t['test_pgd10']:.1f}% PGD-10"
            for t in teachers
        ),
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    table = Table(*header, title="methods compared")
    for row in rows:
        cells = [
            row["method"],
            f"{100 * row['clean_accuracy']:.2f}",
            *[f"{100 * row['robust_accuracy'][a]:.2f}" for a in attacks],
            f"{100 * row['worst_case_accuracy']:.2f}",
            f"{row['seconds']:.0f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
        table.add_row(*cells)
    console.print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")
        console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
