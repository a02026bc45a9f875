"""The one training engine: every method, every model, CPU / GPU / DDP, resumable, logged."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from torch import nn

from compressor.config.schema import AttackConfig, OptimConfig, ScheduleConfig, TrainConfig
from compressor.console import ProgressDisplay
from compressor.data.sources import Split
from compressor.engine import resume as ckpt
from compressor.engine.distributed import DistInfo, all_ranks_true, all_reduce_mean, gather_objects
from compressor.engine.metrics import METRICS_FILE, MetricsLogger, MetricsWriter
from compressor.engine.optim import build_optimizer, build_scheduler
from compressor.engine.precision import Speed
from compressor.engine.validation import clean_and_robust_accuracy
from compressor.errors import TrainingDiverged
from compressor.methods.base import Method, TrainingPosition
from compressor.models.weights import save_weights

# What `fit` leaves in its folder (besides checkpoints/ and tensorboard/): a stage that trains declares these
TRAINING_FILES = {"best": "best.safetensors", "last": "last.safetensors", "metrics": METRICS_FILE}


@dataclass
class FitResult:
    """Where the weights went and what validation said."""

    best: Path
    last: Path
    best_epoch: int
    best_score: float
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class FitSetup:
    """Everything `fit` needs besides the models and the method."""

    optim: OptimConfig
    schedule: ScheduleConfig
    train: TrainConfig
    val_attack: AttackConfig | None
    out_dir: Path
    speed: Speed
    dist: DistInfo = field(default_factory=DistInfo)
    label: str = "train"
    select_split: Split | None = None
    console: Console | None = None  # where progress and each validation go (rank 0 only)
    tensorboard: bool = True
    loggers: Sequence[MetricsLogger] = ()  # experiment trackers that get every record too
    recipe_parts: dict[str, str] = field(default_factory=dict)  # digests the checkpoints carry


def fit(
    student: nn.Module, method: Method, batches: Any, val: Split, setup: FitSetup, *, resume: bool = False
) -> FitResult:
    """Train `student` with `method`; checkpoints every epoch (and every `checkpoint_every_steps`
    steps); `resume` continues from the last one, mid-epoch included."""
    run = _Training(student, method, batches, val, setup, resume=resume)
    run.writer.write(
        "precision", run.start_epoch * run.steps_per_epoch + run.done_steps, setup.speed.describe()
    )
    with ProgressDisplay(setup.console, enabled=run.rank0) as bar:
        for epoch in range(run.start_epoch, setup.train.epochs):
            run.train_epoch(epoch, bar)
            run.end_epoch(epoch, bar)
    return run.finish()


class _Training:
    """One `fit`: the optimiser, schedule, metrics and best-so-far, and the steps of an epoch."""

    def __init__(
        self, student: nn.Module, method: Method, batches: Any, val: Split, setup: FitSetup, *, resume: bool
    ) -> None:
        self.student, self.method, self.batches, self.val, self.setup = student, method, batches, val, setup
        cfg, self.rank0 = setup.train, setup.dist.is_main
        self.optimizer = build_optimizer(student.parameters(), setup.optim)
        self.steps_per_epoch = min(len(batches), cfg.max_steps_per_epoch or len(batches))
        self.scheduler = build_scheduler(self.optimizer, setup.schedule, self.steps_per_epoch * cfg.epochs)
        self.ckpt_dir = setup.out_dir / "checkpoints"
        self.teachers = method.trained_teachers()
        self.start_epoch, self.best_score, self.best_epoch = 0, -1.0, -1
        self.history: list[dict[str, Any]] = []
        self.done_steps = (
            0  # after a mid-epoch checkpoint: steps of `start_epoch` already trained, and their sums
        )
        self.resumed_sums: dict[str, torch.Tensor] = {}
        self.autocast = setup.speed.autocast()
        self.scaler = torch.amp.GradScaler(enabled=setup.speed.dtype is torch.float16)
        latest = ckpt.latest_checkpoint(self.ckpt_dir) if resume else None
        if latest is not None and ckpt.changed_parts(latest, setup.recipe_parts):
            latest = (
                None  # trained with another recipe: start afresh (the pipeline refuses this unless --force)
            )
        self.writer = MetricsWriter(
            setup.out_dir,
            enabled=self.rank0,
            tensorboard=setup.tensorboard,
            fresh=latest is None,
            loggers=setup.loggers,
        )
        if latest is not None:
            self._load(latest)

    def _load(self, latest: Path) -> None:
        """Continue from checkpoint `latest`: weights, optimiser, schedule, method, RNG and progress."""
        state = ckpt.load_checkpoint(latest, self.student, self.teachers)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.method.load_state_dict(state["method"])
        ckpt.restore_rng(_own_rng(state, self.setup.dist))
        self.start_epoch, self.best_score = state["epoch"] + 1, state["best_score"]
        self.best_epoch = state["best_epoch"]
        self.history = [dict(h) for h in state.get("history", [])]
        self.done_steps, self.resumed_sums = int(state.get("steps_done", 0)), dict(state.get("sums", {}))

    def save(self, tag: str, epoch_done: int, steps_done: int, sums: dict[str, torch.Tensor]) -> None:
        """Checkpoint everything a resume needs; ``steps_done`` > 0 marks a mid-epoch one."""
        rngs = gather_objects(ckpt.rng_state(), self.setup.dist)  # every rank's streams (a collective)
        if self.rank0:
            state = {
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "method": self.method.state_dict(),
                "rng": rngs[0],
                "rng_ranks": rngs,
                "epoch": epoch_done,
                "steps_done": steps_done,
                "sums": {k: v.detach().cpu() for k, v in sums.items()},
                "best_score": self.best_score,
                "best_epoch": self.best_epoch,
                "history": self.history,
            }
            ckpt.save_checkpoint(
                self.ckpt_dir, tag, self.student, self.teachers, state, self.setup.recipe_parts
            )
        self.setup.dist.barrier()

    def train_epoch(self, epoch: int, bar: ProgressDisplay) -> None:
        """One epoch of steps (those before a mid-epoch checkpoint skipped), logged every `log_every`."""
        cfg, device, n = self.setup.train, self.setup.speed.device, self.steps_per_epoch
        task = bar.add(f"{self.setup.label} {epoch + 1}/{cfg.epochs}", n)
        self.batches.set_epoch(epoch)
        self.method.start_epoch(epoch)
        skip = self.done_steps if epoch == self.start_epoch else 0
        sums = {k: v.to(device) for k, v in self.resumed_sums.items()} if skip else {}
        finite = torch.ones((), dtype=torch.bool, device=device)
        seen, tick = 0, time.perf_counter()
        for step, (x, y) in enumerate(self.batches):
            if step >= n:
                break
            if step < skip:  # trained before the mid-epoch checkpoint (same order, same augmentation)
                continue
            position = TrainingPosition(epoch, step, epoch * n + step, cfg.epochs, n)
            loss = self._step(self.setup.speed.prepare_batch(x), y, position, sums)
            finite &= torch.isfinite(loss)
            seen += len(y)
            if (step + 1) % cfg.log_every == 0 or step + 1 == n:
                self._check_finite(finite, epoch, step)
                rate = seen * self.setup.dist.world_size / max(1e-9, time.perf_counter() - tick)
                logs = self._log(sums, step, position.global_step, rate)
                bar.update(task, step + 1, f"{rate:.0f} img/s  loss {logs['loss']:.4f}")
            every = cfg.checkpoint_every_steps
            if every and (position.global_step + 1) % every == 0 and step + 1 < n:
                self.save(f"ckpt-{epoch:04d}-{step + 1:06d}", epoch - 1, step + 1, sums)

    def _step(
        self, x: torch.Tensor, y: torch.Tensor, position: TrainingPosition, sums: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """One optimiser step of the method's loss; adds its logs to `sums` and returns the detached loss."""
        x_adv = self.method.adversarial(x, y)
        self.student.train()
        with self.autocast():
            out = self.method.loss(x, y, x_adv)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(out.loss).backward()
        if self.setup.train.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.student.parameters(), self.setup.train.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.method.after_step(x, y, x_adv, position)
        device = self.setup.speed.device
        for key, value in {"loss": out.loss, **out.logs}.items():
            v = value.detach().float() if isinstance(value, torch.Tensor) else torch.tensor(float(value))
            sums[key] = sums.get(key, 0) + v.to(device)
        return out.loss.detach()

    def _check_finite(self, finite: torch.Tensor, epoch: int, step: int) -> None:
        if not all_ranks_true(finite, self.setup.dist):  # every rank stops, none waits in a collective
            raise TrainingDiverged(
                f"{self.setup.label}: the loss became non-finite in epoch {epoch + 1} (step {step + 1}); "
                f"the last good checkpoint is kept in {self.ckpt_dir}; lower optim.lr or set train.grad_clip"
            )

    def _log(
        self, sums: dict[str, torch.Tensor], step: int, global_step: int, rate: float
    ) -> dict[str, float]:
        """The epoch's running means so far (over every rank), with the rate and learning rate, written."""
        logs = {k: float(all_reduce_mean(v / (step + 1), self.setup.dist)) for k, v in sums.items()}
        logs.update(lr=float(self.scheduler.get_last_lr()[0]), images_per_s=round(rate, 1))
        self.writer.write("train", global_step + 1, logs)
        return logs

    def end_epoch(self, epoch: int, bar: ProgressDisplay) -> None:
        """Validate, keep the best weights, print the epoch's line and checkpoint the epoch."""
        record = _validate(self.student, self.val, self.setup, epoch, self.writer, self.steps_per_epoch)
        if "score" in record and record["score"] > self.best_score and self.rank0:
            self.best_score, self.best_epoch = record["score"], epoch
            save_weights(self.student, self.setup.out_dir / TRAINING_FILES["best"])
        self.history.append(record)
        if self.rank0 and "score" in record:
            bar.console.print(validation_line(self.setup.label, record, best=self.best_epoch == epoch))
        self.save(f"ckpt-{epoch + 1:04d}", epoch, 0, {})

    def finish(self) -> FitResult:
        """The last weights (and any trained teachers) saved beside the best ones."""
        out = self.setup.out_dir
        self.writer.close()
        best, last = out / TRAINING_FILES["best"], out / TRAINING_FILES["last"]
        if self.rank0:
            save_weights(self.student, last)
            for role, teacher in self.teachers.items():
                save_weights(teacher, out / f"teacher_{role}.safetensors")
            if self.best_epoch < 0:
                save_weights(self.student, best)
        self.setup.dist.barrier()
        return FitResult(best, last, self.best_epoch, self.best_score, self.history)


def validation_line(label: str, record: dict[str, Any], *, best: bool) -> str:
    """One epoch's validation for the console: "distill epoch 3: val clean 81.2%  robust 40.1%  (best so far)"."""
    parts = [f"{label} epoch {record['epoch']}: val clean {100 * record['val_clean']:.1f}%"]
    if "val_robust" in record:
        parts.append(f"robust {100 * record['val_robust']:.1f}%")
    return "  ".join(parts) + ("  (best so far)" if best else "")


def _own_rng(state: dict[str, Any], info: DistInfo) -> dict[str, Any]:
    """This rank's saved RNG state; rank 0's when the checkpoint came from another world size."""
    ranks = state.get("rng_ranks")
    if ranks is not None and len(ranks) == info.world_size:
        return ranks[info.rank]
    return state["rng"]


def _validate(
    student: nn.Module, val: Split, setup: FitSetup, epoch: int, writer: MetricsWriter, steps: int
) -> dict[str, Any]:
    """Validation every `val_every` epochs and at the end; the score selects the best checkpoint."""
    cfg = setup.train
    if (epoch + 1) % cfg.val_every and epoch + 1 != cfg.epochs:
        return {"epoch": epoch + 1}
    split = setup.select_split if setup.select_split is not None else val
    clean, robust = clean_and_robust_accuracy(student, split, setup.val_attack, setup.speed)
    record: dict[str, Any] = {"epoch": epoch + 1, "val_clean": clean}
    if robust is not None:
        record["val_robust"] = robust
    record["score"] = robust if robust is not None else clean
    writer.write("val", (epoch + 1) * steps, record)
    return record
