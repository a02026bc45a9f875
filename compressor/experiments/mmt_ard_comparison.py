"""MMT-ARD's claims at digits scale, over seeds: dual teachers vs one robust teacher vs TeCoA / FARE alone.

    python scripts/compare_mmt_ard.py recipes/digits-clip-mmt-ard.yaml --seeds 0,1,2

Per seed, the recipe's teachers stage runs once (it pre-trains the CLIPs contrastively and makes the
robust teacher) in runs/<name>-s<seed>-teachers; every row then starts the same pre-trained student and
distils from those same teacher files with the same budget and evaluation:

    mmt_ard          the recipe's method (fixed weights w_adv, w_clean)
    mmt_ard-sigmoid  the same with `balance: sigmoid`
    single-teacher   the same loss and attack with the robust teacher in both roles (`clean_teacher: robust`)
    tecoa, fare      the student fine-tuned alone by TeCoA / FARE (no teacher; FARE anchors to its own init)

Each finished row is appended at once to the JSONL file (--out); a re-run skips the rows already there.
The Markdown table (mean ± sd over the seeds) is written from that file (--table). Seconds per step come
from ``--step-rounds`` interleaved rounds of training steps (MMT-ARD, sigmoid, single teacher in turn on
the same batch, seed 0's models), so the machine's load hits every method alike (--steps-out).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from compressor_edge.machine import describe_cpu

from compressor.config.schema import Recipe
from compressor.data.loading import load_data
from compressor.data.sources import as_float
from compressor.engine.precision import resolve_speed
from compressor.methods.base import build_method
from compressor.models.build import build_model, data_info
from compressor.pipeline.artifacts import load_teachers
from compressor.pipeline.run import run_pipeline
from compressor.pipeline.stage import resolve_recipe, stage_output, stages_through
from compressor.recipe_loading import load_recipe
from compressor.rundir import RunDir

TIMED = ("mmt_ard", "mmt_ard-sigmoid", "single-teacher")

ROWS: dict[str, list[str]] = {
    "mmt_ard": [],
    "mmt_ard-sigmoid": ["method.balance=sigmoid"],
    "single-teacher": ["method.clean_teacher=robust"],
    "tecoa": ["method={name: tecoa}", "teachers=[]"],
    "fare": ["method={name: fare}", "teachers=[]"],
}


def _teacher_overrides(base: Recipe, teachers_root: Path) -> list[str]:
    """Every row reads the teachers and the pre-trained student of the seed's teachers run."""
    teachers_run = RunDir(teachers_root)
    resolved = resolve_recipe(base, teachers_run)  # as the teachers run read it: its pre-trained checkpoints
    out = [f"student.checkpoint={resolved.student.checkpoint}"]
    for index, teacher in enumerate(base.teachers):
        out += [
            f"teachers.{index}.train=null",
            f"teachers.{index}.model.checkpoint="
            f"{stage_output(teachers_run, 'teachers', 'weights', role=teacher.role)}",
        ]
    return out


def _step_seconds(run: RunDir, batch_size: int) -> float:
    """Median seconds per training step of the distill stage, from its logged images per second."""
    rates = [
        json.loads(line)["images_per_s"]
        for line in stage_output(run, "distill", "metrics").read_text().splitlines()
        if '"images_per_s"' in line
    ]
    return batch_size / statistics.median(rates)


def _row_recipe(recipe_path: Path, seed: int, row: str, common: list[str]) -> tuple[Recipe, Path]:
    """The row's recipe, reading the seed's teachers run (prepared here when missing), and that run."""
    seeded = [*common, f"run.seed={seed}"]
    base = load_recipe(recipe_path, seeded)
    teachers_name = f"{base.run.name}-s{seed}-teachers"
    teachers_root = Path(base.run.output_dir) / teachers_name
    run_pipeline(
        load_recipe(recipe_path, [*seeded, f"run.name={teachers_name}"]), stages=stages_through("teachers")
    )
    overrides = _teacher_overrides(base, teachers_root) + ROWS[row]
    recipe = load_recipe(recipe_path, [*seeded, f"run.name={base.run.name}-s{seed}-{row}", *overrides])
    return recipe, teachers_root


def step_seconds(recipe_path: Path, common: list[str], rounds: int, steps: int) -> dict[str, float]:
    """Median seconds per training step (attack + loss + backward + AdamW) of each timed row, interleaved."""
    device = torch.device("cpu")
    recipes = {row: _row_recipe(recipe_path, 0, row, common) for row in TIMED}
    first, _ = recipes[TIMED[0]]
    data = load_data(first.data, 0)
    info = data_info(data)
    assert data.train is not None
    x, y = as_float(data.train.x[: first.data.batch_size]), data.train.y[: first.data.batch_size]
    steppers = {}
    for row, (recipe, teachers_root) in recipes.items():
        speed = resolve_speed(recipe.train.model_copy(update={"channels_last": False}), device)
        student = build_model(recipe.student, info, device=device).train()
        teachers = load_teachers(recipe, RunDir(teachers_root), info, speed)
        method = build_method(
            recipe.method, student, teachers, recipe.attack, epochs=1, steps_per_epoch=steps, speed=speed
        )
        optimizer = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=1e-4)
        steppers[row] = (method, optimizer)
    times: dict[str, list[float]] = {row: [] for row in TIMED}
    for _ in range(rounds):
        for row, (method, optimizer) in steppers.items():
            started = time.perf_counter()
            for _ in range(steps):
                loss = method.loss(x, y, method.adversarial(x, y)).loss
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            times[row].append((time.perf_counter() - started) / steps)
    return {row: statistics.median(values) for row, values in times.items()}


def run_row(recipe_path: Path, seed: int, row: str, common: list[str]) -> dict[str, Any]:
    """Teachers (once per seed), then this row's distill + evaluate; its measured figures."""
    recipe, teachers_root = _row_recipe(recipe_path, seed, row, common)
    run_pipeline(recipe, stages=stages_through("evaluate"))
    run = RunDir(Path(recipe.run.output_dir) / recipe.run.name)
    evaluation = json.loads(stage_output(run, "evaluate", "evaluation").read_text())
    zero_shot = json.loads(stage_output(run, "evaluate", "zero_shot").read_text())
    stages = run.records()
    teachers = json.loads(stage_output(RunDir(teachers_root), "teachers", "summary").read_text())
    return {
        "seed": seed,
        "row": row,
        "clean": evaluation["clean_accuracy"],
        **{k: v for k, v in evaluation["robust_accuracy"].items()},
        "worst_case": evaluation["worst_case_accuracy"],
        **{f"zs_{name}_{k}": v for name, values in zero_shot.items() for k, v in values.items()},
        "step_s": _step_seconds(run, recipe.data.batch_size),
        "distill_s": stages["distill"]["seconds"],
        "teachers": {t["role"]: t["test_clean"] for t in teachers},
        "teachers_pgd10": {t["role"]: t["test_pgd10"] for t in teachers},
        "device": evaluation["settings"]["device"],
    }


def _done(out: Path) -> set[tuple[int, str]]:
    if not out.is_file():
        return set()
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    return {(r["seed"], r["row"]) for r in rows}


def _mean_sd(values: list[float], scale: float = 100.0, digits: int = 1) -> str:
    mean = scale * statistics.fmean(values)
    sd = scale * statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def write_table(out: Path, table: Path, command: str, steps_file: Path) -> None:
    """Mean ± sd over seeds of every row in the JSONL file, as Markdown."""
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    names = [r for r in ROWS if any(x["row"] == r for x in rows)]
    skip = ("seed", "row", "teachers", "teachers_pgd10", "device", "distill_s", "step_s")
    metrics = [k for k in rows[0] if k not in skip]
    header = [m.replace("_", " ") + " %" for m in metrics]
    lines = [f"`{command}` — mean ± sd over seeds {sorted({r['seed'] for r in rows})}", ""]
    teachers = {role for r in rows for role in r["teachers"]}
    for role in sorted(teachers):
        clean = [r["teachers"][role] for r in rows if r["row"] == names[0]]
        pgd = [r["teachers_pgd10"][role] for r in rows if r["row"] == names[0]]
        lines.append(
            f"- {role} teacher: {_mean_sd(clean)} % clean, {_mean_sd(pgd)} % PGD-10 (train attack eps)"
        )
    lines += ["", "| row | " + " | ".join(header) + " |", "|---|" + "---|" * len(header)]
    for name in names:
        picked = [x for x in rows if x["row"] == name]
        cells = [_mean_sd([x[m] for x in picked]) for m in metrics]
        lines.append(f"| {name} (n={len(picked)}) | " + " | ".join(cells) + " |")
    lines += ["", f"Device: {rows[0]['device']}.", *_step_lines(steps_file)]
    table.write_text("\n".join(lines) + "\n")


def _step_lines(steps_file: Path) -> list[str]:
    """The interleaved step-time table, relative to the single-teacher baseline."""
    if not steps_file.is_file():
        return []
    record = json.loads(steps_file.read_text().splitlines()[-1])
    single = record["seconds_per_step"]["single-teacher"]
    lines = [
        "",
        f"Seconds per training step, {record['rounds']} interleaved rounds of {record['steps']} steps, batch "
        f"{record['batch_size']}, {record['threads']} thread, {record['cpu']} (other agents loading the machine):",
        "",
        "| row | s / step | vs single teacher |",
        "|---|---|---|",
    ]
    lines += [
        f"| {row} | {sec:.4f} | {sec / single:.2f}x |" for row, sec in record["seconds_per_step"].items()
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", type=Path)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--out", type=Path, default=Path("results/mmt-ard-digits.jsonl"))
    parser.add_argument("--table", type=Path, default=Path("results/mmt-ard-digits.md"))
    parser.add_argument("--steps-out", type=Path, default=Path("results/mmt-ard-digits-steps.jsonl"))
    parser.add_argument("--step-rounds", type=int, default=5, help="interleaved timing rounds (0: skip)")
    parser.add_argument("--step-count", type=int, default=10, help="training steps per round")
    parser.add_argument("overrides", nargs="*", help="extra KEY=VALUE overrides for every run")
    args = parser.parse_intermixed_args()
    unknown = [r for r in args.rows.split(",") if r not in ROWS]
    if unknown:
        raise SystemExit(f"--rows: unknown row '{unknown[0]}'; choose from {', '.join(ROWS)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for seed in (int(s) for s in args.seeds.split(",")):
        for row in args.rows.split(","):
            if (seed, row) in _done(args.out):
                continue
            result = run_row(args.recipe, seed, row, list(args.overrides))
            with args.out.open("a") as f:
                f.write(json.dumps(result) + "\n")
    if args.step_rounds and not args.steps_out.is_file():
        record = {
            "rounds": args.step_rounds,
            "steps": args.step_count,
            "batch_size": load_recipe(args.recipe, list(args.overrides)).data.batch_size,
            "threads": torch.get_num_threads(),
            "cpu": describe_cpu(),
            "seconds_per_step": step_seconds(
                args.recipe, list(args.overrides), args.step_rounds, args.step_count
            ),
        }
        args.steps_out.write_text(json.dumps(record) + "\n")
    command = " ".join(["python scripts/compare_mmt_ard.py", str(args.recipe), f"--seeds {args.seeds}"])
    write_table(args.out, args.table, command + "".join(f" {o}" for o in args.overrides), args.steps_out)
    print(f"wrote {args.out} and {args.table}")
