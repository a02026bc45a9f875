"""Training metrics to JSONL (always), TensorBoard (when installed) and any other loggers, from rank 0 only.

A training that starts afresh starts its logs afresh: an earlier run's logs move to `previous/<n>/` beside
them, so the plots and tables of a run describe the model it reports. A resumed training continues them.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol


class MetricsLogger(Protocol):
    """Somewhere else each record's numbers go (an experiment tracker: `compressor.trackers`)."""

    def log(self, kind: str, step: int, values: dict[str, float]) -> None: ...


METRICS_FILE = "metrics.jsonl"
LOGS = (METRICS_FILE, "tensorboard")
PREVIOUS = "previous"


def set_aside_logs(folder: Path) -> Path | None:
    """Move the logs of an earlier run in `folder` to `previous/<n>/` (n = 1, 2, ...); where they went."""
    present = [folder / name for name in LOGS if (folder / name).exists()]
    if not present:
        return None
    previous = folder / PREVIOUS
    taken = [int(p.name) for p in previous.iterdir() if p.name.isdigit()] if previous.is_dir() else []
    target = previous / str(max(taken, default=0) + 1)
    target.mkdir(parents=True)
    for path in present:
        os.replace(path, target / path.name)
    return target


class MetricsWriter:
    """Append one JSON object per record to `metrics.jsonl`; mirror scalars to TensorBoard and `loggers`.

    ``fresh``: a new training, so an earlier run's logs are set aside first (`set_aside_logs`).
    """

    def __init__(
        self,
        folder: Path,
        *,
        enabled: bool = True,
        tensorboard: bool = True,
        fresh: bool = False,
        loggers: Sequence[MetricsLogger] = (),
    ) -> None:
        self.enabled = enabled
        self.loggers = loggers
        self.path = folder / METRICS_FILE
        self._tb = None
        if enabled:
            folder.mkdir(parents=True, exist_ok=True)
            if fresh:
                set_aside_logs(folder)
            if tensorboard:
                try:
                    from torch.utils.tensorboard import SummaryWriter

                    self._tb = SummaryWriter(str(folder / "tensorboard"))
                except ImportError:
                    self._tb = None

    def write(self, kind: str, step: int, values: dict[str, Any]) -> None:
        """Record `values` of a kind ("train", "val", ...) at a global step."""
        if not self.enabled:
            return
        record = {"kind": kind, "step": step, "time": round(time.time(), 3), **values}
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        scalars = {k: float(v) for k, v in values.items() if isinstance(v, int | float)}
        if self._tb is not None:
            for key, value in scalars.items():
                self._tb.add_scalar(f"{kind}/{key}", value, step)
        for logger in self.loggers:
            logger.log(kind, step, scalars)

    def close(self) -> None:
        """Flush TensorBoard."""
        if self._tb is not None:
            self._tb.close()


def read_metrics(path: Path, kind: str | None = None) -> list[dict[str, Any]]:
    """Records of `metrics.jsonl` (a torn last line from a kill is skipped)."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if kind is None or record.get("kind") == kind:
            records.append(record)
    return records
