"""Record a run's verify result under results/: the command, stage times, test accuracy, then verify's table.

    python scripts/record_verify.py runs/mnist-resnet18-int8 results/int8-resnet18-verify \
        --command "compressor distill recipes/mnist-resnet18-int8.yaml"

Writes OUT.md (a header written from the run's stage records, its evaluation and verify results, then
verify's table verbatim) and OUT.json (verify's result as it is).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from compressor.pipeline.stage import stage_output
from compressor.rundir import RunDir


def _speedups(verify: dict[str, Any]) -> list[str]:
    """One line per backend: int8's speed-up over fp32 at each timed batch, from verify's interleaved loop."""
    lines = []
    for row in verify["results"]:
        if row["format"] == "int8":
            cells = [
                f"batch {b} {t['speedup_vs_fp32']:.2f}x"
                for b, t in row["latency_ms"].items()
                if t.get("speedup_vs_fp32") is not None
            ]
            lines.append(f"- int8 vs fp32 on {row['backend']}: {', '.join(cells) or 'not timed'}")
    return lines


def header(run: Path, commands: list[str]) -> str:
    """The lines above verify's own report."""
    stages = RunDir(run).records()
    evaluation_file = stage_output(RunDir(run), "evaluate", "evaluation")
    evaluation = json.loads(evaluation_file.read_text()) if evaluation_file.is_file() else None
    verify = json.loads(stage_output(RunDir(run), "verify", "verify").read_text())
    seconds = ", ".join(f"{name} {s['seconds']:.0f} s" for name, s in stages.items() if "seconds" in s)
    fastest = verify["fastest_passing"]
    cpu = verify["environment"]["cpu"]
    return "\n".join(
        [
            f"# verify of {run.name}",
            "",
            "Commands:",
            "",
            *[f"    {command}" for command in commands],
            "",
            f"Stage times: {seconds} (total {sum(s.get('seconds', 0) for s in stages.values()) / 60:.1f} min).",
            _test_line(evaluation),
            f"CPU: {verify['environment']['machine']}; VNNI {cpu['vnni']}, AMX {cpu['amx']}. "
            f"Threads {verify['latency']['threads']}.",
            f"Verdict: {verify['verdict']}; fastest passing (batch 1): "
            + ("none" if fastest is None else f"{fastest['format']} on {fastest['backend']}"),
            *_speedups(verify),
            "",
            "verify.md as written by the run:",
            "",
        ]
    )


def _test_line(evaluation: dict[str, Any] | None) -> str:
    """The evaluate stage's test-split accuracies, or that the run skipped it."""
    if evaluation is None:
        return "Test split: not evaluated (the run skipped the evaluate stage); verify's probes below."
    robust = ", ".join(f"{k} {100 * v:.2f}%" for k, v in evaluation["robust_accuracy"].items())
    return (
        f"Test split ({evaluation['n']} images, eps {evaluation['settings']['eps_text']}): clean "
        f"{100 * evaluation['clean_accuracy']:.2f}%, {robust}."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", type=Path, help="run directory (runs/<name>)")
    parser.add_argument("out", type=Path, help="output path without suffix (writes .md and .json)")
    parser.add_argument(
        "--command", action="append", required=True, help="a command that produced the run (repeatable)"
    )
    args = parser.parse_args(argv)
    verify = stage_output(RunDir(args.run), "verify", "verify")
    if not verify.is_file():
        print(f"error: {verify} not found (run the verify stage first)", file=sys.stderr)
        return 2
    text = header(args.run, args.command) + stage_output(RunDir(args.run), "verify", "table").read_text()
    args.out.with_suffix(".md").write_text(text)
    shutil.copyfile(verify, args.out.with_suffix(".json"))
    print(f"wrote {args.out.with_suffix('.md')} and {args.out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
