"""Experiment trackers (`report.loggers`): Weights & Biases and MLflow, as optional extras.

Each gets every training record the metrics writer makes (teachers' and the student's, each under its own
label and step axis), the resolved recipe as parameters, and the report and the bundle as artifacts.
TensorBoard is the metrics writer's own (`compressor.engine.metrics`). A tracker starts on its first record,
so a command that logs nothing opens no run. Where they write is theirs to say: W&B's WANDB_MODE /
WANDB_DIR / WANDB_PROJECT, MLflow's MLFLOW_TRACKING_URI / MLFLOW_EXPERIMENT_NAME (default project and
experiment: "compressor", run name: the recipe's run.name).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from compressor.errors import UserInputError

TRACKERS = ("wandb", "mlflow")  # each needs the package of its name, installed by the extra of its name
DEFAULT_PROJECT = "compressor"


def check_loggers(loggers: Iterable[str], where: str) -> None:
    """At recipe load: a tracker whose package is missing is one line naming the extra that installs it."""
    for index, name in enumerate(loggers):
        if name in TRACKERS and importlib.util.find_spec(name) is None:
            raise UserInputError(
                f"{where}.{index}: '{name}' needs the {name} package; pip install 'compressor[{name}]' "
                "or remove it from report.loggers"
            )


class Tracker(Protocol):
    """One experiment tracker's run."""

    def log_metrics(self, prefix: str, step: int, values: dict[str, float]) -> None: ...

    def log_artifacts(self, kind: str, paths: list[Path]) -> None: ...

    def close(self) -> None: ...


class WandbTracker:
    """A W&B run; each prefix ("distill/val") plots against its own step ("distill/val/step")."""

    def __init__(self, name: str, params: dict[str, Any]) -> None:
        import wandb

        self._wandb = wandb
        project = os.environ.get("WANDB_PROJECT", DEFAULT_PROJECT)
        self._run = wandb.init(project=project, name=name, config=params)
        self._name = re.sub(r"[^A-Za-z0-9_.-]", "-", name)
        self._axes: set[str] = set()

    def log_metrics(self, prefix: str, step: int, values: dict[str, float]) -> None:
        if prefix not in self._axes:
            self._run.define_metric(f"{prefix}/step")
            self._run.define_metric(f"{prefix}/*", step_metric=f"{prefix}/step")
            self._axes.add(prefix)
        self._run.log({f"{prefix}/step": step, **{f"{prefix}/{k}": v for k, v in values.items()}})

    def log_artifacts(self, kind: str, paths: list[Path]) -> None:
        artifact = self._wandb.Artifact(f"{self._name}-{kind}", type="model" if kind == "bundle" else kind)
        for path in paths:
            if path.is_dir():
                artifact.add_dir(str(path))
            else:
                artifact.add_file(str(path))
        self._run.log_artifact(artifact)

    def close(self) -> None:
        self._run.finish()


class MlflowTracker:
    """An MLflow run through its client (no process-wide active run)."""

    def __init__(self, name: str, params: dict[str, Any]) -> None:
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        self._client = MlflowClient()
        experiment = os.environ.get("MLFLOW_EXPERIMENT_NAME", DEFAULT_PROJECT)
        found = self._client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else self._client.create_experiment(experiment)
        self._run_id = self._client.create_run(experiment_id, run_name=name).info.run_id
        flat = [Param(key, value[:6000]) for key, value in flatten(params).items()]
        for start in range(0, len(flat), 100):  # MLflow takes at most 100 parameters per batch
            self._client.log_batch(self._run_id, params=flat[start : start + 100])

    def log_metrics(self, prefix: str, step: int, values: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(1000 * time.time())
        metrics = [Metric(f"{prefix}/{k}", float(v), now, step) for k, v in values.items()]
        self._client.log_batch(self._run_id, metrics=metrics)

    def log_artifacts(self, kind: str, paths: list[Path]) -> None:
        for path in paths:
            if path.is_dir():
                self._client.log_artifacts(self._run_id, str(path), artifact_path=f"{kind}/{path.name}")
            else:
                self._client.log_artifact(self._run_id, str(path), artifact_path=kind)

    def close(self) -> None:
        self._client.set_terminated(self._run_id)


def flatten(params: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """{"train": {"epochs": 5}} -> {"train.epochs": "5"}; lists stay whole, as JSON."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value if isinstance(value, str) else json.dumps(value)
    return flat


_OPEN: dict[str, Callable[[str, dict[str, Any]], Tracker]] = {"wandb": WandbTracker, "mlflow": MlflowTracker}


class Trackers:
    """The run's trackers, started on first use; rank 0 only (the others never record)."""

    def __init__(self, loggers: Iterable[str] = (), name: str = "", params: dict[str, Any] | None = None):
        self.names = [n for n in loggers if n in TRACKERS]
        self._name, self._params = name, params or {}
        self._open: list[Tracker] | None = None

    def _trackers(self) -> list[Tracker]:
        if self._open is None:
            self._open = [_OPEN[n](self._name, self._params) for n in self.names]
        return self._open

    def log_metrics(self, prefix: str, step: int, values: dict[str, float]) -> None:
        """Numbers under "prefix/name" at `step` of the prefix's own axis."""
        for tracker in self._trackers() if self.names else []:
            tracker.log_metrics(prefix, step, values)

    def for_fit(self, label: str) -> list[ScopedLogger]:
        """A metrics-writer logger for one training (a teacher's or the student's), none without trackers."""
        return [ScopedLogger(self, label)] if self.names else []

    def log_artifacts(self, kind: str, paths: Iterable[Path]) -> None:
        """Files and folders that exist, as one artifact of `kind` ("report", "bundle")."""
        present = [p for p in paths if p.exists()]
        for tracker in self._trackers() if self.names and present else []:
            tracker.log_artifacts(kind, present)

    def close(self) -> None:
        """End the trackers' runs (those that started)."""
        for tracker in self._open or []:
            tracker.close()
        self._open = None


class ScopedLogger:
    """`compressor.engine.metrics.MetricsLogger` for one training: "distill/val/val_clean" and so on."""

    def __init__(self, trackers: Trackers, label: str) -> None:
        self.trackers, self.label = trackers, label

    def log(self, kind: str, step: int, values: dict[str, float]) -> None:
        self.trackers.log_metrics(f"{self.label}/{kind}", step, values)
