"""SIGKILL mid-epoch with `train.checkpoint_every_steps`: --resume continues from the mid-epoch checkpoint."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from compressor.engine.metrics import read_metrics

STEPS_PER_EPOCH = 18  # 640 digits, a tenth carved off for validation, batches of 32


def test_sigkill_mid_epoch_resumes_from_the_step_checkpoint(
    tiny_recipe, tmp_path: Path, distill_command
) -> None:
    recipe = tiny_recipe(
        train={"epochs": 4, "log_every": 1, "checkpoint_every_steps": 4},
        data={"dataset": "digits", "batch_size": 32, "limit_train": 640, "limit_test": 64},
    )
    run = tmp_path / "runs" / "tiny"
    latest = run / "distill" / "checkpoints" / "LATEST"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        distill_command(recipe), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline, tag = time.time() + 240, None
    while time.time() < deadline and proc.poll() is None:
        text = latest.read_text().strip() if latest.is_file() else ""
        if (match := re.fullmatch(r"ckpt-(\d{4})-(\d{6})", text)) and int(match.group(1)) >= 1:
            tag = match  # a mid-epoch checkpoint in epoch 2 or later
            break
        time.sleep(0.02)
    assert proc.poll() is None and tag is not None, (
        f"no mid-epoch checkpoint: {proc.stderr.read().decode()[-500:]}"
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    tag = re.fullmatch(r"ckpt-(\d{4})-(\d{6})", latest.read_text().strip())  # the last one before the kill
    assert tag is not None
    done_steps = int(tag.group(1)) * STEPS_PER_EPOCH + int(tag.group(2))
    logged = len(read_metrics(run / "distill" / "metrics.jsonl", "train"))
    done = subprocess.run(
        distill_command(recipe, "--resume"), env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    resumed = read_metrics(run / "distill" / "metrics.jsonl", "train")[logged:]
    assert resumed[0]["step"] == done_steps + 1, "resume did not start right after the mid-epoch checkpoint"
    assert resumed[-1]["step"] == 4 * STEPS_PER_EPOCH
    assert [r["epoch"] for r in read_metrics(run / "distill" / "metrics.jsonl", "val")] == [1, 2, 3, 4]
