"""Experiment trackers (report.loggers) offline: W&B's offline mode and MLflow's local file store hold the
run's metrics, the resolved recipe and the report; a missing package is one line naming the extra."""

from __future__ import annotations

import importlib.util
import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from compressor.cli.main import app
from compressor.engine.metrics import read_metrics

runner = CliRunner()


def _last_val(run: Path) -> dict[str, float]:
    return read_metrics(run / "distill" / "metrics.jsonl", "val")[-1]


def _wandb_records(path: Path) -> Iterator[Any]:
    """The records of W&B's offline transaction log (LevelDB log framing: 32 KiB blocks, 7-byte headers)."""
    from wandb.proto import wandb_internal_pb2

    raw, block, pos, data = path.read_bytes(), 32768, 7, b""  # 7: the ":W&B" file header
    while pos + 7 <= len(raw):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        length, kind = struct.unpack("<HB", raw[pos + 4 : pos + 7])
        data, pos = data + raw[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind in (1, 4):  # a full record, or the last piece of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(data)
            yield record
            data = b""


def _items(history: Any) -> dict[str, Any]:
    return {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in history.item}


def test_wandb_offline_and_mlflow_file_store_hold_the_run(
    tiny_recipe, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("wandb", reason="W&B is an optional extra: pip install 'compressor[wandb]'")
    pytest.importorskip("mlflow", reason="MLflow is an optional extra: pip install 'compressor[mlflow]'")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"file:{tmp_path / 'mlruns'}")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3.x: the file store is opt-in
    recipe = tiny_recipe(report={"loggers": ["wandb", "mlflow"]})
    result = runner.invoke(app, ["distill", str(recipe), "--stages", "teachers,distill,report"])
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / "tiny"
    val = _last_val(run)
    assert not (run / "distill" / "tensorboard").exists()  # not listed in report.loggers

    (log,) = (tmp_path / "wandb").glob("offline-run-*/run-*.wandb")
    records = list(_wandb_records(log))
    history = [_items(r.history) for r in records if r.WhichOneof("record_type") == "history"]
    assert {"distill/val/step": val["step"], "distill/val/val_clean": val["val_clean"]}.items() <= {
        k: v for h in history for k, v in h.items() if h.get("distill/val/step") == val["step"]
    }.items()
    assert any("teacher robust/train/loss" in h for h in history)
    (config,) = [r.run.config for r in records if r.WhichOneof("record_type") == "run"]
    assert json.loads(next(i.value_json for i in config.update if i.key == "train"))["epochs"] == 2
    artifacts = {r.artifact.name: r.artifact for r in records if r.WhichOneof("record_type") == "artifact"}
    assert "report.md" in [entry.path for entry in artifacts["tiny-report"].manifest.contents]

    (mlrun,) = [p for p in (tmp_path / "mlruns").glob("*/*") if (p / "metrics").is_dir()]
    timestamp, value, step = (mlrun / "metrics" / "distill" / "val" / "val_clean").read_text().split()[-3:]
    assert float(value) == pytest.approx(val["val_clean"]) and int(step) == val["step"]
    assert (mlrun / "params" / "train.epochs").read_text() == "2"
    assert (mlrun / "artifacts" / "report" / "report.md").is_file()


def test_a_tracker_without_its_package_is_one_line_naming_the_extra(
    tiny_recipe, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a)
    )
    result = runner.invoke(app, ["validate", str(tiny_recipe(report={"loggers": ["tensorboard", "wandb"]}))])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "report.loggers.1" in lines[0] and "compressor[wandb]" in lines[0]


def test_an_unknown_logger_is_bad_input(tiny_recipe) -> None:
    result = runner.invoke(app, ["validate", str(tiny_recipe(report={"loggers": ["neptune"]}))])
    assert result.exit_code == 2 and "report.loggers" in result.output
