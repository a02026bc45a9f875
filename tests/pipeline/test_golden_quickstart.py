"""Golden values from the real CLI: the quickstart's first training losses and its evaluation, pinned.

A refactor that changes any number fails here. The run is the shipped quickstart recipe at a cut budget,
through `compressor distill` in a subprocess, on one thread (so the result does not depend on the core
count) and in fp32 (`auto` picks bf16 on some CPUs: a precision choice, not the algorithm this pins). Float kernels differ between CPU kinds (AVX2 vs AVX-512 paths in oneDNN), so the numbers are pinned
per CPU kind: on a recorded kind the losses to 1e-5 and the evaluation exactly; on another kind they must stay
near the recorded ones (losses to 2%, accuracies within 5 points), which still catches a changed algorithm.

To record this CPU kind (after a change that is meant to alter the numbers, say why in the commit):
`COMPRESSOR_RECORD_GOLDEN=1 python -m pytest tests/pipeline/test_golden_quickstart.py`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from compressor_edge.machine import cpu_info

GOLDEN = Path(__file__).parent / "golden" / "quickstart.json"
FIRST_LOSSES = 12
OVERRIDES = [
    "teachers.0.train.epochs=2",
    "teachers.1.train.epochs=1",
    "train.epochs=2",
    "train.log_every=1",
    "evaluate.attacks=[pgd20]",
    "evaluate.num_images=120",
    "evaluate.eps_curve=[]",
    "train.precision=fp32",  # the numbers of the algorithm; which precision `auto` picks is tested apart
]


def cpu_kind() -> str:
    """The CPU model plus the ISA flags that pick float kernels: the key numbers are pinned under."""
    info = cpu_info()
    isa = "+".join(flag for flag, on in info["isa"].items() if on) or "unknown-isa"
    return f"{info['model']} [{info['machine']}; {isa}]"


def _run_quickstart(out: Path) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "compressor.cli.main", "distill", "quickstart"]
    command += [f"run.output_dir={out}", *OVERRIDES, "--stages", "teachers,distill,evaluate"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    run = out / "quickstart"
    losses = [r["loss"] for r in _jsonl(run / "distill" / "metrics.jsonl") if r["kind"] == "train"]
    evaluation = json.loads((run / "evaluate" / "evaluation.json").read_text())
    teachers = json.loads((run / "teachers" / "summary.json").read_text())
    return {
        "losses": losses[:FIRST_LOSSES],
        "evaluation": {
            "clean_accuracy": evaluation["clean_accuracy"],
            "robust_accuracy": evaluation["robust_accuracy"],
            "teachers": {t["role"]: [t["test_clean"], t["test_pgd10"]] for t in teachers},
        },
    }


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_quickstart_numbers_match_the_golden_values(tmp_path: Path) -> None:
    measured = _run_quickstart(tmp_path)
    assert len(measured["losses"]) == FIRST_LOSSES
    golden = json.loads(GOLDEN.read_text()) if GOLDEN.is_file() else {"overrides": OVERRIDES, "by_cpu": {}}
    kind = cpu_kind()
    if os.environ.get("COMPRESSOR_RECORD_GOLDEN") == "1":
        golden["overrides"] = OVERRIDES
        golden["by_cpu"][kind] = measured
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(golden, indent=2, sort_keys=True) + "\n")
        return
    assert golden.get("overrides") == OVERRIDES, "the golden run's budget changed: record it again"
    if kind in golden["by_cpu"]:
        pinned = golden["by_cpu"][kind]
        assert measured["losses"] == pytest.approx(pinned["losses"], rel=1e-5, abs=1e-7)
        assert measured["evaluation"] == pinned["evaluation"]
        return
    nearest = next(iter(golden["by_cpu"].values()))  # another CPU kind: the same algorithm, other rounding
    assert measured["losses"] == pytest.approx(nearest["losses"], rel=2e-2, abs=1e-3)
    assert _accuracies(measured["evaluation"]) == pytest.approx(_accuracies(nearest["evaluation"]), abs=0.05)


def _accuracies(evaluation: dict[str, Any]) -> list[float]:
    robust = [evaluation["robust_accuracy"][k] for k in sorted(evaluation["robust_accuracy"])]
    teachers = [a for role in sorted(evaluation["teachers"]) for a in evaluation["teachers"][role]]
    return [evaluation["clean_accuracy"], *robust, *teachers]
