"""`compressor distill` end to end as one benchmark: wall time, seconds per stage, outcome, the run's small files.

    python benchmarks/bench_distill_e2e.py benchmarks/gpu-cifar-synthetic.yaml --runs /tmp/suite-runs \\
        --out results.jsonl --tar distill-run.tar.gz [KEY=VALUE overrides for the recipe ...]

Runs the whole pipeline (teachers -> distill -> evaluate -> export -> verify -> report) in a child process
under `--runs/<run.name>` (a fresh run: the folder is removed first), its output passed through. Then appends
one JSON line to --out (device and driver, versions, command, exit code, wall seconds, each stage's seconds
and verdict from stages.json, the student's clean / robust accuracy, verify's verdict, the student's median
training images/s after its first logged step) and packs the run's small files (json, jsonl, md, the resolved
recipe, the bundle's manifest; no weights, checkpoints, ONNX files or plots) into --tar. Interrupted (Ctrl-C,
or `timeout -s INT`, which reaches the child too) it still records and packs what the run wrote so far.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import yaml
from records import append_record, cuda_fields, record_header

SMALL_FILES = ("*.json", "*.jsonl", "*.md", "recipe.yaml")


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _run_name(recipe: Path, overrides: list[str]) -> str:
    for item in reversed(overrides):
        if item.startswith("run.name="):
            return item.split("=", 1)[1]
    return str((yaml.safe_load(recipe.read_text()).get("run") or {}).get("name", "run"))


def _train_rate(metrics: Path) -> float | None:
    """Median images/s of the logged training rows after the first (which carries compile and warm-up)."""
    try:
        rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    except (OSError, ValueError):
        return None
    rates = [r["images_per_s"] for r in rows if r.get("kind") == "train" and "images_per_s" in r][1:]
    return round(statistics.median(rates), 1) if rates else None


def summarize(run: Path) -> dict[str, Any]:
    """What the run directory says: per-stage seconds and verdicts, accuracies, verify's verdict (each stage's
    file by the name the stage declared)."""
    from compressor.pipeline.stage import stage_output
    from compressor.rundir import RunDir

    run_dir = RunDir(run)
    stages = run_dir.records()
    evaluation = _load(stage_output(run_dir, "evaluate", "evaluation")) or {}
    verify = _load(stage_output(run_dir, "verify", "verify")) or {}
    return {
        "stages": {
            name: {k: s.get(k) for k in ("seconds", "passed", "failure")}
            for name, s in stages.items()
            if isinstance(s, dict)
        },
        "evaluation": {
            k: evaluation.get(k)
            for k in ("n", "clean_accuracy", "robust_accuracy", "worst_case_accuracy", "passed")
        },
        "teachers": _load(stage_output(run_dir, "evaluate", "teachers")),
        "verify": {k: verify.get(k) for k in ("passed", "verdict", "fastest_passing")},
        "student_train_images_per_s": _train_rate(stage_output(run_dir, "distill", "metrics")),
    }


def pack(run: Path, tar_path: Path) -> int:
    """Tar the run's small files (paths relative to its parent); returns how many."""
    files = sorted({f for pattern in SMALL_FILES for f in run.rglob(pattern) if "checkpoints" not in f.parts})
    tar_path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tar_path, "w:gz") as tar:
        for f in files:
            tar.add(f, arcname=str(f.relative_to(run.parent)))
    return len(files)


def main(argv: list[str] | None = None) -> int:
    """Run the recipe, record and pack; exit with the pipeline's code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", type=Path)
    parser.add_argument("overrides", nargs="*", help="KEY=VALUE overrides passed to `compressor distill`")
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="run.output_dir")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results.jsonl"))
    parser.add_argument("--tar", type=Path, default=None, help="pack the run's small files here")
    args = parser.parse_intermixed_args(argv)
    name = _run_name(args.recipe, args.overrides)
    run = args.runs / name
    shutil.rmtree(run, ignore_errors=True)
    command = [sys.executable, "-m", "compressor.cli.main", "distill", str(args.recipe),
               f"run.output_dir={args.runs}", *args.overrides]  # fmt: skip
    start = time.perf_counter()
    interrupted = False
    child = subprocess.Popen(command)
    try:
        code = child.wait()
    except KeyboardInterrupt:  # the child got the same SIGINT; give it a moment to stop cleanly
        interrupted = True
        try:
            code = child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            code = child.wait()
    wall = time.perf_counter() - start
    record = {
        **record_header("distill_e2e", argv, **cuda_fields()),
        "recipe": str(args.recipe),
        "overrides": args.overrides,
        "exit_code": code,
        "interrupted": interrupted,
        "wall_s": round(wall, 1),
        **summarize(run),
    }
    if args.tar is not None and run.is_dir():
        record["packed_files"] = pack(run, args.tar)
    append_record(args.out, record)
    print(json.dumps(record), flush=True)
    return 130 if interrupted else code


if __name__ == "__main__":
    sys.exit(main())
