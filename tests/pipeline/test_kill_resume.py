"""A distill run killed with SIGKILL mid-epoch resumes with --resume, finishes, and nothing is corrupt."""

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
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = latest.read_text()
    done = subprocess.run(
        distill_command(recipe, "--resume"), env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    epochs = [r["epoch"] for r in read_metrics(run / "distill" / "metrics.jsonl", "val")]
    assert epochs == list(range(1, 7)), f"killed at {killed_at}, val epochs {epochs}"
    assert json.loads((run / "stages.json").read_text())["distill"]["hash"]
    for weights in (run / "distill").glob("*.safetensors"):
        assert load_file(str(weights))
