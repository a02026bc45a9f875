"""Training metrics to JSONL (always) and TensorBoard (when installed), from rank 0 only."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


class MetricsWriter:
    """Append one JSON object per record to `metrics.jsonl`; mirror scalars to TensorBoard."""

    def __init__(self, folder: Path, *, enabled: bool = True, tensorboard: bool = True) -> None:
        self.enabled = enabled
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
        if self._tb is not None:
            for key, value in values.items():
                if isinstance(value, int | float):
                    self._tb.add_scalar(f"{kind}/{key}", value, step)

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
