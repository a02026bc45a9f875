"""DDP through `compressor distill --nproc-per-node 2` (torchrun, gloo) on this CPU.

One crashed-then-resumed run and one uninterrupted run of the same recipe (CIARD, so the retrained robust
teacher's gradient averaging is exercised too). A `sitecustomize` hook, loaded only by the torchrun workers,
records what each rank does without touching the library: the sample indices each rank's training batches
iterate over, and every file write (metrics, weights, checkpoints, run records). It also kills rank 0 right
after the first distill checkpoint, as a crashed job would die. The checks:

- both launches that should succeed exit 0, the crashed one does not;
- in every epoch of every training stage the two ranks' shards are disjoint, equally sized, cover the split
  (less the remainder) and change between epochs; a rank that ignored its rank would fail here;
- only rank 0 wrote anything, and it did write metrics, weights and checkpoints;
- `--resume` continues from the last checkpoint (only the second distill epoch runs again) and ends with
  weights bit-identical to the uninterrupted run. That needs each rank's own RNG streams restored and the
  student's BatchNorm buffers kept equal on every rank (the engine does both). The retrained teacher's
  BatchNorm statistics are per rank under `teacher_retrain.batchnorm: update` (see methods/ciard.py) and
  only rank 0's are saved, so this test freezes them to ask for bit-identical weights.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors.torch import load_file

from compressor.engine.metrics import read_metrics
from tests.conftest import TINY_RECIPE

# The shared tiny recipe, with CIARD (frozen teacher BN, see above), batch 32 and 2 training-attack steps.
RECIPE: dict[str, Any] = {
    **TINY_RECIPE,
    "description": "tiny DDP test recipe",
    "data": {**TINY_RECIPE["data"], "batch_size": 32, "limit_train": 290},
    "method": {"name": "ciard", "teacher_retrain": {"warmup_fraction": 0.0, "batchnorm": "frozen"}},
    "attack": {**TINY_RECIPE["attack"], "steps": 2},
}

HOOK = '''
"""Test hook for the torchrun workers of tests/engine/test_ddp.py (inactive elsewhere)."""
import json, os, sys

if os.environ.get("DDP_TEST_TRACE") and "LOCAL_RANK" in os.environ:
    _rank = int(os.environ["RANK"])
    _trace = os.path.join(os.environ["DDP_TEST_TRACE"], f"rank{_rank}.jsonl")

    def _log(**record):
        with open(_trace, "a") as f:
            f.write(json.dumps({"rank": _rank, **record}) + "\\n")

    import compressor.data.batches as _batches
    import compressor.engine.resume as _ckpt
    import compressor_edge.files as _files
    import compressor.engine.metrics as _metrics
    import compressor.models.weights as _weights
    import compressor.pipeline.run  # noqa: F401  (so every module holding a traced name is loaded)

    _iter = _batches.TensorBatches.__iter__

    def _traced_iter(self):
        _log(kind="shard", n=len(self.y), epoch=self.epoch, indices=self._indices().tolist())
        return _iter(self)

    _batches.TensorBatches.__iter__ = _traced_iter

    _write = _metrics.MetricsWriter.write

    def _traced_write(self, kind, step, values):
        if self.enabled:
            _log(kind="write", what="metrics", path=str(self.path))
        return _write(self, kind, step, values)

    _metrics.MetricsWriter.write = _traced_write

    def _wrap(original, what):
        def traced(*args, **kwargs):
            _log(kind="write", what=what, path=str(args[0]))
            out = original(*args, **kwargs)
            crash = os.environ.get("DDP_TEST_CRASH_AFTER")
            if what == "checkpoint" and crash and str(out).endswith(crash):
                os._exit(17)  # rank 0 dies right after the checkpoint, as a crashed job would
            return out
        return traced

    for _name, _what in (("save_state_dict_file", "weights"), ("atomic_write_bytes", "file"),
                         ("save_checkpoint", "checkpoint")):
        _original = next(getattr(m, _name) for m in (_weights, _files, _ckpt) if hasattr(m, _name))
        _traced = _wrap(_original, _what)
        for _module in list(sys.modules.values()):
            if getattr(_module, "__name__", "").startswith("compressor") and getattr(_module, _name, None) is _original:
                setattr(_module, _name, _traced)
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _launch(
    tmp_path: Path, label: str, output_dir: Path, *extra: str, crash_after: str = ""
) -> tuple[int, str, Path]:
    """Run `compressor distill` with 2 processes; return the exit code, stderr and the trace folder."""
    recipe = tmp_path / f"{label}.yaml"
    recipe.write_text(yaml.safe_dump({**RECIPE, "run": {**RECIPE["run"], "output_dir": str(output_dir)}}))
    trace = tmp_path / f"trace-{label}"
    trace.mkdir()
    hooks = tmp_path / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "sitecustomize.py").write_text(HOOK)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(hooks), os.environ.get("PYTHONPATH", "")]),
        "DDP_TEST_TRACE": str(trace),
        "DDP_TEST_CRASH_AFTER": crash_after,
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        sys.executable,
        "-m",
        "compressor.cli.main",
        "distill",
        str(recipe),
        "--stages",
        "teachers,distill",
        "--nproc-per-node",
        "2",
        "--master-port",
        str(_free_port()),
        *extra,
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    return done.returncode, done.stderr + done.stdout, trace


def _records(trace: Path) -> dict[int, list[dict[str, Any]]]:
    by_rank: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for path in sorted(trace.glob("rank*.jsonl")):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            by_rank[record["rank"]].append(record)
    return by_rank


def _check_shards(by_rank: dict[int, list[dict[str, Any]]]) -> list[int]:
    """Assert the two ranks iterated disjoint shards covering the split; return the epochs iterated."""
    shards = [[r for r in by_rank[rank] if r["kind"] == "shard"] for rank in (0, 1)]
    assert shards[0] and len(shards[0]) == len(shards[1]), "both ranks iterate the same number of epochs"
    previous: dict[int, tuple[int, set[int]]] = {}
    for a, b in zip(*shards, strict=True):
        assert (a["n"], a["epoch"]) == (b["n"], b["epoch"])
        mine, theirs = set(a["indices"]), set(b["indices"])
        assert len(mine) == len(a["indices"]) == len(b["indices"]) == a["n"] // 2
        assert not mine & theirs, f"ranks share {len(mine & theirs)} samples in epoch {a['epoch']}"
        assert mine | theirs <= set(range(a["n"]))
        last_epoch, last = previous.get(a["n"], (a["epoch"], set()))
        assert last_epoch == a["epoch"] or last != mine, (
            "the shard did not change between epochs (no reshuffle)"
        )
        previous[a["n"]] = (a["epoch"], mine)
    return [r["epoch"] for r in shards[0]]


def _check_writers(by_rank: dict[int, list[dict[str, Any]]]) -> set[str]:
    """Assert only rank 0 wrote; return what it wrote."""
    assert not [r for r in by_rank[1] if r["kind"] == "write"], "rank 1 wrote files"
    return {r["what"] for r in by_rank[0] if r["kind"] == "write"}


def test_ddp_two_processes_shard_write_and_resume(tmp_path: Path) -> None:
    crashed_dir, full_dir = tmp_path / "crashed", tmp_path / "full"
    code, log, trace_crash = _launch(
        tmp_path, "crash", crashed_dir, crash_after="distill/checkpoints/ckpt-0001"
    )
    assert code != 0, f"the injected crash did not stop the job:\n{log[-2000:]}"
    run = crashed_dir / "tiny"
    assert (run / "distill" / "checkpoints" / "LATEST").read_text() == "ckpt-0001"
    assert "distill" not in json.loads((run / "stages.json").read_text())
    code, log, trace_resume = _launch(tmp_path, "resume", crashed_dir, "--resume")
    assert code == 0, log[-3000:]
    code, log, trace_full = _launch(tmp_path, "full", full_dir)
    assert code == 0, log[-3000:]

    crash, resume, full = _records(trace_crash), _records(trace_resume), _records(trace_full)
    assert _check_shards(full) == [0, 0, 0, 1]  # robust teacher, clean teacher, distill epochs 1 and 2
    assert _check_shards(crash) == [0, 0, 0]  # died after the first distill epoch's checkpoint
    assert _check_shards(resume) == [1]  # teachers up to date; distill resumed at its second epoch
    for by_rank in (crash, resume, full):
        assert {"metrics", "weights", "checkpoint", "file"} <= _check_writers(by_rank)

    assert [r["epoch"] for r in read_metrics(run / "distill" / "metrics.jsonl", "val")] == [1, 2]
    steps = [r["step"] for r in read_metrics(run / "distill" / "metrics.jsonl", "train")]
    assert steps == sorted(set(steps)), "a train step was logged twice"
    state = torch.load(run / "distill" / "checkpoints" / "ckpt-0002" / "state.pt", weights_only=True)
    assert len(state["rng_ranks"]) == 2
    assert not torch.equal(state["rng_ranks"][0]["torch"], state["rng_ranks"][1]["torch"])
    for name in ("last.safetensors", "teacher_robust.safetensors"):
        resumed, uninterrupted = (
            load_file(str(run / "distill" / name)),
            load_file(str(full_dir / "tiny" / "distill" / name)),
        )
        assert resumed.keys() == uninterrupted.keys()
        different = [k for k in resumed if not torch.equal(resumed[k], uninterrupted[k])]
        assert not different, f"{name}: resumed run differs from the uninterrupted one in {different[:3]}"
