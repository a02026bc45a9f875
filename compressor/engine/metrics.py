"""Training metrics to JSONL (always), TensorBoard (when installed) and any other loggers, from rank 0 only."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol


class MetricsLogger(Protocol):
    """Somewhere else each record's numbers go (an experiment tracker: `compressor.report.trackers`)."""

    def log(self, kind: str, step: int, values: dict[str, float]) -> None: ...


class MetricsWriter:
    """Append one JSON object per record to `metrics.jsonl`; mirror scalars to TensorBoard and `loggers`."""

    def __init__(
        self,
        folder: Path,
        *,
        enabled: bool = True,
        tensorboard: bool = True,
        loggers: Sequence[MetricsLogger] = (),
    ) -> None:
        self.enabled = enabled
        self.loggers = loggers
        self.path = folder / "metrics.jsonl"
        self._tb = None
        if enabled:
            folder.mkdir(parents=True, exist_ok=True)
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
