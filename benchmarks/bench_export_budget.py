"""Export + verify of a ResNet-18 student against a time budget on one CPU thread.

    OMP_NUM_THREADS=1 python benchmarks/bench_export_budget.py [--run-dir runs/bench-export-budget]

The recipe is the quickstart with a cifar_resnet18 student at 32 px, 2 epochs, 128 probes, fp32 + int8 (the
case that spent over 19 minutes in export when PyTorch's Square ran on every robust probe). The teachers and
the student train once, resumably and untimed (evaluate is left out: export only copies its metrics into the
manifest when they exist, and its AutoAttack on a ResNet-18 costs more than everything timed here); export and
verify are then timed as two commands (`--force`, so a rerun measures again), wall and CPU seconds of the
child. The baseline is the budget (180 s): the ratio
printed is budget / spent, in CPU seconds, which on one thread are an idle machine's wall time, so a loaded
machine still gives a fair figure. A Square check is only cheap and meaningful together: the record names
PyTorch's clean and adversarial-probe accuracy (a student at chance leaves Square no robust points to attack,
and verify fails it) and Square's points and queries.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from records import append_record, record_header, timed_cli  # noqa: E402

from compressor.pipeline.stage import stage_output, stages_through  # noqa: E402
from compressor.rundir import RunDir  # noqa: E402

RECIPE = "recipes/quickstart.yaml"
OVERRIDES = ["student.name=cifar_resnet18", "data.image_size=32", "train.epochs=2", "export.num_probes=128",
             "export.formats=[fp32, int8]"]  # fmt: skip
BUDGET_S = 180.0


def main(argv: list[str] | None = None) -> None:
    """Prepare the run, time export and verify, print the ratio against the budget and append the record."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run-dir", type=Path, default=Path("runs/bench-export-budget"), help="kept for reruns")
    p.add_argument("--budget", type=float, default=BUDGET_S, help="seconds for export + verify together")
    p.add_argument("--out", type=Path, default=Path(__file__).with_name("results.jsonl"))
    args = p.parse_args(argv)
    run = [RECIPE, *OVERRIDES, f"run.output_dir={args.run_dir.parent}", f"run.name={args.run_dir.name}"]
    prepare = timed_cli(["distill", *run, "--stages", ",".join(stages_through("distill")), "--resume"])
    print(f"prepared (untimed for the budget): {prepare}")
    export = timed_cli(["distill", *run, "--stages", "export", "--force"])
    verify = timed_cli(["distill", *run, "--stages", "verify", "--force"], check=False)
    report = json.loads(stage_output(RunDir(args.run_dir), "verify", "verify").read_text())
    spent = export["cpu_s"] + verify["cpu_s"]
    square = {key: report[key] for key in ("square_points", "square_queries", "pytorch_square_acc")}
    pytorch = {key: report["pytorch"].get(key) for key in ("clean_acc", "adv_probe_acc")}
    print(f"export {export}, verify {verify}: {spent:.1f} CPU s of a {args.budget:.0f} s budget "
          f"({args.budget / spent:.2f}x); verdict {report['verdict']}; PyTorch {pytorch}; Square {square}")  # fmt: skip
    header = record_header("export_budget", argv, threads=torch.get_num_threads(), torch=torch.__version__)
    append_record(args.out, {**header, "recipe": [RECIPE, *OVERRIDES], "export": export, "verify": verify,
                             "budget_s": args.budget, "spent_cpu_s": round(spent, 1),
                             "budget_ratio": round(args.budget / spent, 3), "passed": spent <= args.budget,
                             "verdict": report["verdict"], "pytorch": pytorch, "square": square})  # fmt: skip


if __name__ == "__main__":
    main()
