"""A distill run killed with SIGKILL mid-epoch resumes with --resume, finishes, and nothing is corrupt.

Along the way, through real processes: a second run on the same run directory stops at once naming the
holder; the resumed run takes over the dead run's lock; a resume with a changed recipe is refused; a fresh
re-run sets the earlier logs aside instead of appending to them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from safetensors.torch import load_file

from compressor.engine.metrics import read_metrics


def test_sigkill_then_resume(tiny_recipe, tmp_path: Path, distill_command) -> None:
    recipe = tiny_recipe(
        train={"epochs": 6, "log_every": 1},
        data={"dataset": "digits", "batch_size": 32, "limit_train": 640, "limit_test": 64},
    )
    run = tmp_path / "runs" / "tiny"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        distill_command(recipe), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.time() + 240
    latest = run / "distill" / "checkpoints" / "LATEST"
    while time.time() < deadline and proc.poll() is None:
        records = read_metrics(run / "distill" / "metrics.jsonl", "train")
        if latest.is_file() and any(r["step"] > 2 * 18 + 3 for r in records):  # inside epoch 3
            break
        time.sleep(0.05)
    assert proc.poll() is None, f"run ended before it could be killed: {proc.stderr.read().decode()[-500:]}"
    proc.send_signal(signal.SIGSTOP)  # paused mid-training, still holding the run directory
    second = subprocess.run(distill_command(recipe), env=env, capture_output=True, text=True, timeout=300)
    lines = second.stderr.strip().splitlines()
    assert second.returncode == 2 and len(lines) == 1, second.stdout[-2000:] + second.stderr[-2000:]
    assert f"is in use by pid {proc.pid} on host" in lines[0] and str(run) in lines[0], lines
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = latest.read_text()
    done = subprocess.run(
        distill_command(recipe, "--resume"), env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"took over the lock of pid {proc.pid}" in " ".join(done.stdout.split()), done.stdout[-2000:]
    epochs = [r["epoch"] for r in read_metrics(run / "distill" / "metrics.jsonl", "val")]
    assert epochs == list(range(1, 7)), f"killed at {killed_at}, val epochs {epochs}"
    assert json.loads((run / "stages.json").read_text())["distill"]["hash"]
    for weights in (run / "distill").glob("*.safetensors"):
        assert load_file(str(weights))
    _changed_recipe_is_not_resumed(tiny_recipe, run, distill_command, env)


def _changed_recipe_is_not_resumed(tiny_recipe, run: Path, distill_command, env: dict[str, str]) -> None:
    """--resume with another lr stops with one line; a fresh run then logs afresh, the old logs kept aside."""
    recipe = tiny_recipe(
        train={"epochs": 2, "log_every": 1},
        data={"dataset": "digits", "batch_size": 32, "limit_train": 640, "limit_test": 64},
    )
    old_log = (run / "distill" / "metrics.jsonl").read_bytes()
    refused = subprocess.run(
        distill_command(recipe, "--resume"), env=env, capture_output=True, text=True, timeout=300
    )
    lines = refused.stderr.strip().splitlines()
    assert refused.returncode == 2 and len(lines) == 1, refused.stderr[-2000:]
    assert "trained with another recipe (train changed since)" in lines[0] and "--force" in lines[0], lines
    assert (run / "distill" / "metrics.jsonl").read_bytes() == old_log, "the refused resume wrote logs"
    fresh = subprocess.run(distill_command(recipe), env=env, capture_output=True, text=True, timeout=300)
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    epochs = [r["epoch"] for r in read_metrics(run / "distill" / "metrics.jsonl", "val")]
    assert epochs == [1, 2], f"the fresh run's log mixes runs: val epochs {epochs}"
    assert (run / "distill" / "previous" / "1" / "metrics.jsonl").read_bytes() == old_log
