"""The run directory: one folder per stage, a record of which stage finished for which recipe hash."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compressor.engine.checkpointing import atomic_write_bytes
from compressor.errors import UserInputError

STAGES = ("teachers", "distill", "evaluate", "export", "verify", "report")


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

    @property
    def student_weights(self) -> Path:
        return self.stage("distill") / "best.safetensors"

    @property
    def bundle(self) -> Path:
        return self.stage("export") / "bundle"

    def teacher_weights(self, role: str) -> Path:
        return self.stage("teachers") / f"{role}.safetensors"

    def _records(self) -> dict[str, Any]:
        path = self.root / "stages.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def is_done(self, stage: str, digest: str) -> bool:
        """True when `stage` finished for a recipe with the same hash."""
        return self._records().get(stage, {}).get("hash") == digest

    def mark_done(self, stage: str, digest: str, **info: Any) -> None:
        """Record that `stage` finished (atomically, so a kill never corrupts the record)."""
        records = self._records()
        records[stage] = {"hash": digest, **info}
        atomic_write_bytes(self.root / "stages.json", json.dumps(records, indent=2).encode())

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
