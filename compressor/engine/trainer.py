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
from compressor.engine.metrics import MetricsLogger, MetricsWriter
from compressor.engine.optim import build_optimizer, build_scheduler
from compressor.engine.precision import Speed
from compressor.engine.validation import clean_and_robust_accuracy
from compressor.errors import TrainingDiverged
from compressor.methods.base import Method, TrainingPosition
from compressor.models.weights import save_weights


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
    cfg, rank0 = setup.train, setup.dist.is_main
    optimizer = build_optimizer(student.parameters(), setup.optim)
    steps_per_epoch = min(len(batches), cfg.max_steps_per_epoch or len(batches))
    scheduler = build_scheduler(optimizer, setup.schedule, steps_per_epoch * cfg.epochs)
    ckpt_dir = setup.out_dir / "checkpoints"
    teachers = method.trained_teachers()
    start_epoch, best_score, best_epoch, history = 0, -1.0, -1, []
    done_steps = 0  # after a mid-epoch checkpoint: steps of `start_epoch` already trained, and their sums
    resumed_sums: dict[str, torch.Tensor] = {}
    latest = ckpt.latest_checkpoint(ckpt_dir) if resume else None
    if latest is not None and ckpt.changed_parts(latest, setup.recipe_parts):
        latest = None  # trained with another recipe: start afresh (the pipeline refuses this unless --force)
    writer = MetricsWriter(
        setup.out_dir,
        enabled=rank0,
        tensorboard=setup.tensorboard,
        fresh=latest is None,
        loggers=setup.loggers,
    )
    if latest is not None:
        state = ckpt.load_checkpoint(latest, student, teachers)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        method.load_state_dict(state["method"])
        ckpt.restore_rng(_own_rng(state, setup.dist))
        start_epoch, best_score, best_epoch = state["epoch"] + 1, state["best_score"], state["best_epoch"]
        history = [dict(h) for h in state.get("history", [])]
        done_steps, resumed_sums = int(state.get("steps_done", 0)), dict(state.get("sums", {}))

    def save(tag: str, epoch_done: int, steps_done: int, sums: dict[str, torch.Tensor]) -> None:
        """Checkpoint everything a resume needs; ``steps_done`` > 0 marks a mid-epoch one."""
        rngs = gather_objects(ckpt.rng_state(), setup.dist)  # every rank's streams (a collective)
        if rank0:
            state = {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "method": method.state_dict(),
                "rng": rngs[0],
                "rng_ranks": rngs,
                "epoch": epoch_done,
                "steps_done": steps_done,
                "sums": {k: v.detach().cpu() for k, v in sums.items()},
                "best_score": best_score,
                "best_epoch": best_epoch,
                "history": history,
            }
            ckpt.save_checkpoint(ckpt_dir, tag, student, teachers, state, setup.recipe_parts)
        setup.dist.barrier()

    writer.write("precision", start_epoch * steps_per_epoch + done_steps, setup.speed.describe())
    autocast = setup.speed.autocast()
    scaler = torch.amp.GradScaler(enabled=setup.speed.dtype is torch.float16)
    with ProgressDisplay(setup.console, enabled=rank0) as bar:
        for epoch in range(start_epoch, cfg.epochs):
            task = bar.add(f"{setup.label} {epoch + 1}/{cfg.epochs}", steps_per_epoch)
            batches.set_epoch(epoch)
            method.start_epoch(epoch)
            skip = done_steps if epoch == start_epoch else 0
            sums = {k: v.to(setup.speed.device) for k, v in resumed_sums.items()} if skip else {}
            finite = torch.ones((), dtype=torch.bool, device=setup.speed.device)
            seen, tick = 0, time.perf_counter()
            for step, (x, y) in enumerate(batches):
                if step >= steps_per_epoch:
                    break
                if step < skip:  # trained before the mid-epoch checkpoint (same order, same augmentation)
                    continue
                x = setup.speed.prepare_batch(x)
                x_adv = method.adversarial(x, y)
                student.train()
                with autocast():
                    out = method.loss(x, y, x_adv)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(out.loss).backward()
                if cfg.grad_clip is not None:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(student.parameters(), cfg.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                global_step = epoch * steps_per_epoch + step
                method.after_step(
                    x, y, x_adv, TrainingPosition(epoch, step, global_step, cfg.epochs, steps_per_epoch)
                )
                finite &= torch.isfinite(out.loss.detach())
                for key, value in {"loss": out.loss, **out.logs}.items():
                    v = (
                        value.detach().float()
                        if isinstance(value, torch.Tensor)
                        else torch.tensor(float(value))
                    )
                    sums[key] = sums.get(key, 0) + v.to(setup.speed.device)
                seen += len(y)
                if (step + 1) % cfg.log_every == 0 or step + 1 == steps_per_epoch:
                    if not all_ranks_true(finite, setup.dist):  # every rank stops, none waits in a collective
                        raise TrainingDiverged(
                            f"{setup.label}: the loss became non-finite in epoch {epoch + 1} (step {step + 1}); "
                            f"the last good checkpoint is kept in {ckpt_dir}; lower optim.lr or set train.grad_clip"
                        )
                    logs = {k: float(all_reduce_mean(v / (step + 1), setup.dist)) for k, v in sums.items()}
                    rate = seen * setup.dist.world_size / max(1e-9, time.perf_counter() - tick)
                    logs.update(lr=float(scheduler.get_last_lr()[0]), images_per_s=round(rate, 1))
                    writer.write("train", global_step + 1, logs)
                    bar.update(task, step + 1, f"{rate:.0f} img/s  loss {logs['loss']:.4f}")
                every = cfg.checkpoint_every_steps
                if every and (global_step + 1) % every == 0 and step + 1 < steps_per_epoch:
                    save(f"ckpt-{epoch:04d}-{step + 1:06d}", epoch - 1, step + 1, sums)
            record = _validate(student, val, setup, epoch, writer, steps_per_epoch)
            if "score" in record and record["score"] > best_score and rank0:
                best_score, best_epoch = record["score"], epoch
                save_weights(student, setup.out_dir / "best.safetensors")
            history.append(record)
            if rank0 and "score" in record:
                bar.console.print(validation_line(setup.label, record, best=best_epoch == epoch))
            save(f"ckpt-{epoch + 1:04d}", epoch, 0, {})
    writer.close()
    last = setup.out_dir / "last.safetensors"
    if rank0:
        save_weights(student, last)
        for role, teacher in teachers.items():
            save_weights(teacher, setup.out_dir / f"teacher_{role}.safetensors")
        if best_epoch < 0:
            save_weights(student, setup.out_dir / "best.safetensors")
    setup.dist.barrier()
    return FitResult(setup.out_dir / "best.safetensors", last, best_epoch, best_score, history)


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
