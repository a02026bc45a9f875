"""The run directory: one folder per stage, a record of which stage finished for which digest.

Storage only: which stages exist and depend on each other is the pipeline's business (`compressor.pipeline`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compressor_edge.files import atomic_write_bytes, sha256_file

from compressor.errors import UserInputError


@dataclass
class RunDir:
    """Paths of a run: `runs/<name>/` with `recipe.yaml`, `data.json`, `stages.json` and a folder per stage."""

    root: Path

    def stage(self, name: str) -> Path:
        return self.root / name

    @property
    def recipe(self) -> Path:
        return self.root / "recipe.yaml"

    @property
    def data_info(self) -> Path:
        return self.root / "data.json"

    def record(self, stage: str) -> dict[str, Any] | None:
        """What was recorded when `stage` last finished (digest, output hashes, seconds, gate), if it did."""
        return self.records().get(stage)

    def records(self) -> dict[str, Any]:
        """Every finished stage's record (stages.json), by stage name."""
        path = self.root / "stages.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def why_stale(self, stage: str, digest: str, declared: tuple[str, ...] = ()) -> str | None:
        """Why `stage` must run again (never ran, recipe changed, an output missing or changed), or None.

        `declared` are the files the stage promises to write; each must exist besides the recorded ones.
        """
        record = self.records().get(stage)
        if record is None:
            return "not run yet"
        if record.get("hash") != digest:
            return "the recipe parts it depends on changed"
        for name in declared:
            if not (self.stage(stage) / name).is_file():
                return f"its output {stage}/{name} is missing"
        for name, expected in record.get("outputs", {}).items():
            path = self.stage(stage) / name
            if not path.is_file():
                return f"its output {stage}/{name} is missing"
            if sha256_file(path) != expected:
                return f"its output {stage}/{name} changed since it was written"
        return None

    def mark_done(self, stage: str, digest: str, invalidates: Iterable[str] = (), **info: Any) -> None:
        """Record that `stage` finished with the hashes of its outputs; the stages in `invalidates` become stale.

        Written atomically, so a kill never corrupts the record.
        """
        records = self.records()
        for dependent in invalidates:
            records.pop(dependent, None)
        records[stage] = {"hash": digest, "outputs": self._outputs(stage), **info}
        atomic_write_bytes(self.root / "stages.json", json.dumps(records, indent=2).encode())

    def _outputs(self, stage: str) -> dict[str, str]:
        """sha256 of every file a stage wrote, except logs (TensorBoard, earlier runs' logs in previous/) and
        resume state (checkpoints/)."""
        folder = self.stage(stage)
        if not folder.is_dir():
            return {}
        skipped = {"tensorboard", "checkpoints", "previous"}
        files = sorted(
            p for p in folder.rglob("*") if p.is_file() and not skipped & set(p.relative_to(folder).parts)
        )
        return {p.relative_to(folder).as_posix(): sha256_file(p) for p in files}

    def write_json(self, path: Path, payload: Any) -> None:
        """Write a JSON result file atomically."""
        atomic_write_bytes(path, json.dumps(payload, indent=2, default=str).encode())


def open_run_dir(path: Path) -> RunDir:
    """An existing run directory, or a one-line error saying what is missing."""
    run = RunDir(Path(path))
    if not run.recipe.is_file():
        raise UserInputError(
            f"'{path}' is not a run directory (no recipe.yaml); pass runs/<name> from a distill run"
        )
    return run
