"""Export + verify of a ResNet-18 student against a time budget on one CPU thread.

    OMP_NUM_THREADS=1 python benchmarks/bench_export_budget.py [--run-dir runs/bench-export-budget]

The recipe is the quickstart with a cifar_resnet18 student at 32 px, 2 epochs, 128 probes, fp32 + int8 (the
case that spent over 19 minutes in export when PyTorch's Square ran on every robust probe). The teachers and
the student train once, resumably and untimed (evaluate is left out: export only copies its metrics into the
manifest when they exist, and its AutoAttack on a ResNet-18 costs more than everything timed here); export and
verify are then timed as two commands (`--force`, so a rerun measures again), wall and CPU seconds of the
child. The baseline is the budget (180 s): the ratio
printed is budget / spent, in CPU seconds, which on one thread are an idle machine's wall time, so a loaded
machine still gives a fair figure.

Square's cost depends on the student: a student at chance (as this recipe's 2-epoch ResNet-18 can be) leaves
it no robust points, so the time measured would flatter the check. The benchmark therefore also times
Square's worst case, every point surviving every query: `queries` forwards of `points` images in PyTorch (the
export's record), on the fp32 file and each int8 candidate the robust-int8 gate decides on (100 queries;
the final int8 file's time stands in for every candidate's) and on each verified file and runtime, and judges the budget on the time spent with Square's
measured seconds replaced by that worst case.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from compressor_edge.backends import create_backend
from compressor_edge.bundle import FORMAT_FILES, MANIFEST_FILE

sys.path.insert(0, str(Path(__file__).resolve().parent))
from records import append_record, record_header, timed_cli  # noqa: E402

from compressor.bundling.bundle import HELD_OUT_SQUARE_QUERIES  # noqa: E402
from compressor.pipeline.artifacts import load_data_info, load_student  # noqa: E402
from compressor.pipeline.stage import stage_output, stages_through  # noqa: E402
from compressor.recipe_loading import load_recipe  # noqa: E402
from compressor.rundir import RunDir  # noqa: E402

RECIPE = "recipes/quickstart.yaml"
OVERRIDES = ["student.name=cifar_resnet18", "data.image_size=32", "train.epochs=2", "export.num_probes=128",
             "export.formats=[fp32, int8]"]  # fmt: skip
BUDGET_S = 180.0


def _seconds(forward: Callable[[], object], calls: int) -> float:
    """CPU seconds of this process for `calls` forwards (one warm-up first): on one thread, idle wall time."""
    forward()
    start = time.process_time()
    for _ in range(calls):
        forward()
    return time.process_time() - start


def square_seconds(
    run_dir: Path, overrides: list[str], verify: dict[str, Any]
) -> dict[str, dict[str, float]]:
    """Square's seconds per place it ran (export's PyTorch reference, the robust-int8 gate on the fp32 file and
    the int8 candidate, each verified file and runtime): as measured, and its worst case, every point surviving
    every query (`queries` forwards of `points` images)."""
    recipe = load_recipe(RECIPE, overrides)
    points, queries = recipe.export.square_points, recipe.export.square_queries
    student = load_student(RunDir(run_dir), recipe)
    info = load_data_info(RunDir(run_dir))
    x = torch.rand(points, info["in_chans"], info["image_size"], info["image_size"])
    images = x.numpy().astype(np.float32)
    bundle = stage_output(RunDir(run_dir), "export", "bundle")
    manifest = json.loads((bundle / MANIFEST_FILE).read_text())
    gate = manifest["formats"].get("int8", {}).get("quantization", {}).get("robustness_aware")
    with torch.no_grad():
        worst = {"pytorch (export)": _seconds(lambda: student(x), queries)}
    measured = {"pytorch (export)": manifest["square"]["pytorch_seconds"]}
    if gate is not None:  # the fp32 reference once, then plain int8 and every gate decision of a search
        decisions = 1 + len(gate.get("trace", []))
        for fmt, times in (("fp32", 1), ("int8", decisions)):
            with create_backend("onnxruntime-cpu", bundle / FORMAT_FILES[fmt], threads=1) as backend:
                seconds = _seconds(lambda: backend.run(images), HELD_OUT_SQUARE_QUERIES)
            worst[f"{fmt} x {times} (int8 gate)"] = times * seconds
        measured["fp32 + int8 (int8 gate)"] = gate["square_seconds"]
    for row in verify["results"]:
        name = f"{row['format']} on {row['backend']} (verify)"
        with create_backend(row["backend"], bundle / row["file"], threads=1) as backend:
            worst[name] = _seconds(lambda: backend.run(images), queries)
        measured[name] = row["square_seconds"] or 0.0
    return {"measured": {k: round(v, 1) for k, v in measured.items()},
            "worst_case": {k: round(v, 1) for k, v in worst.items()}}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    """Prepare the run, time export and verify, print the ratio against the budget and append the record."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run-dir", type=Path, default=Path("runs/bench-export-budget"), help="kept for reruns")
    p.add_argument("--budget", type=float, default=BUDGET_S, help="seconds for export + verify together")
    p.add_argument("--out", type=Path, default=Path(__file__).with_name("results.jsonl"))
    args = p.parse_args(argv)
    overrides = [*OVERRIDES, f"run.output_dir={args.run_dir.parent}", f"run.name={args.run_dir.name}"]
    run = [RECIPE, *overrides]
    prepare = timed_cli(["distill", *run, "--stages", ",".join(stages_through("distill")), "--resume"])
    print(f"prepared (untimed for the budget): {prepare}")
    export = timed_cli(["distill", *run, "--stages", "export", "--force"])
    verify = timed_cli(["distill", *run, "--stages", "verify", "--force"], check=False)
    report = json.loads(stage_output(RunDir(args.run_dir), "verify", "verify").read_text())
    spent = export["cpu_s"] + verify["cpu_s"]
    square = {key: report[key] for key in ("square_points", "square_queries", "pytorch_square_acc")}
    pytorch = {key: report["pytorch"].get(key) for key in ("clean_acc", "adv_probe_acc")}
    seconds = square_seconds(args.run_dir, overrides, report)
    bound = spent - sum(seconds["measured"].values()) + sum(seconds["worst_case"].values())
    print(f"export {export}, verify {verify}: {spent:.1f} CPU s; verdict {report['verdict']}; PyTorch {pytorch}; "
          f"Square {square}; Square's seconds {seconds}")  # fmt: skip
    print(f"{'PASS' if bound <= args.budget else 'FAIL'}  export + verify {spent:.1f} s, at most {bound:.1f} s "
          f"whatever the student (Square's measured seconds replaced by its worst case), against a "
          f"{args.budget:.0f} s budget ({args.budget / bound:.2f}x)")  # fmt: skip
    header = record_header("export_budget", argv, threads=torch.get_num_threads(), torch=torch.__version__)
    append_record(args.out, {**header, "recipe": [RECIPE, *OVERRIDES], "export": export, "verify": verify,
                             "budget_s": args.budget, "spent_cpu_s": round(spent, 1),
                             "square_seconds": seconds, "bound_s": round(bound, 1),
                             "budget_ratio": round(args.budget / bound, 3), "passed": bound <= args.budget,
                             "verdict": report["verdict"], "pytorch": pytorch, "square": square})  # fmt: skip


if __name__ == "__main__":
    main()
