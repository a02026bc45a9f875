"""The trainer: loss falls on real data, divergence stops cleanly, resume is exact."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from compressor.config.schema import (
    AttackConfig,
    DataConfig,
    ModelSpec,
    OptimConfig,
    ScheduleConfig,
    TrainConfig,
)
from compressor.data.loading import load_data, train_batches
from compressor.engine import resume as ckpt
from compressor.engine.metrics import read_metrics
from compressor.engine.precision import resolve_speed
from compressor.engine.trainer import FitSetup, fit
from compressor.errors import TrainingDiverged
from compressor.methods.base import MethodContext, get_method
from compressor.methods.natural import NaturalParams
from compressor.methods.pgd_at import PGDATParams
from compressor.models import create_classifier

ATTACK = AttackConfig(eps=0.1, alpha=0.025, steps=2)


class _Interrupted(Exception):
    pass


def _run(
    out: Path,
    *,
    epochs: int,
    method: str = "natural",
    resume: bool = False,
    seed: int = 0,
    stop_at_step: int | None = None,
    poison: bool = False,
    every: int = 0,
    steps_run: list[int] | None = None,
):
    torch.manual_seed(seed)
    data_cfg = DataConfig(dataset="digits", batch_size=64, limit_train=384)
    data = load_data(data_cfg)
    speed = resolve_speed(TrainConfig(), torch.device("cpu"))
    model = create_classifier(ModelSpec(name="tiny_cnn"), num_classes=10, in_chans=1)
    batches = train_batches(data, data_cfg, device=speed.device, seed=0)  # the recipe seed never changes
    params = NaturalParams(name="natural") if method == "natural" else PGDATParams(name="pgd_at")
    ctx = MethodContext(model, {}, ATTACK, params, epochs, len(batches), speed.device)
    train = TrainConfig(epochs=epochs, log_every=1, checkpoint_every_steps=every)
    setup = FitSetup(OptimConfig(lr=0.05), ScheduleConfig(name="cosine"), train, ATTACK, out, speed)
    instance = get_method(method)(ctx)
    if stop_at_step is not None or steps_run is not None:

        def crash(x, y, x_adv, progress) -> None:  # a kill in the middle of an epoch
            if steps_run is not None:
                steps_run.append(progress.global_step)
            if progress.global_step == stop_at_step:
                raise _Interrupted

        instance.after_step = crash  # type: ignore[method-assign]
    if poison:  # a loss that turns NaN, as a diverging run's does
        clean_loss = instance.loss
        instance.loss = lambda x, y, x_adv: type(out := clean_loss(x, y, x_adv))(
            out.loss * float("nan"), out.logs
        )  # type: ignore[method-assign]
    return model, fit(model, instance, batches, data.val, setup, resume=resume)


def test_loss_falls_on_digits(tmp_path: Path) -> None:
    _, result = _run(tmp_path, epochs=4)
    losses = [r["loss"] for r in read_metrics(tmp_path / "metrics.jsonl", "train")]
    assert losses[-1] < 0.6 * losses[0]
    assert result.history[-1]["val_clean"] > 0.6
    assert result.best.is_file() and result.last.is_file()


def test_resume_continues_exactly(tmp_path: Path) -> None:
    straight, _ = _run(tmp_path / "a", epochs=2, method="pgd_at")
    with pytest.raises(_Interrupted):
        _run(tmp_path / "b", epochs=2, method="pgd_at", stop_at_step=7)  # epoch 2 of 2, mid-epoch
    resumed, result = _run(tmp_path / "b", epochs=2, method="pgd_at", resume=True, seed=123)
    assert [h["epoch"] for h in result.history] == [1, 2]
    for key, value in straight.state_dict().items():
        assert torch.allclose(value, resumed.state_dict()[key], atol=1e-6), key


@pytest.mark.parametrize("every", [0, 2])
def test_mid_epoch_checkpoints_resume_where_they_were_taken(tmp_path: Path, every: int) -> None:
    """`train.checkpoint_every_steps`: a kill mid-epoch loses at most that many steps, and resume is exact."""
    straight, _ = _run(tmp_path / "a", epochs=2, method="pgd_at")
    with pytest.raises(_Interrupted):  # 5 steps per epoch: global step 7 is step 3 of epoch 2
        _run(tmp_path / "b", epochs=2, method="pgd_at", stop_at_step=7, every=every)
    latest = ckpt.latest_checkpoint(tmp_path / "b" / "checkpoints")
    assert latest is not None
    steps: list[int] = []
    resumed, result = _run(
        tmp_path / "b", epochs=2, method="pgd_at", resume=True, every=every, steps_run=steps
    )
    # every 2 steps: the last checkpoint before the kill is after global step 5 (step 1 of epoch 2)
    assert steps == ([6, 7, 8, 9] if every else [5, 6, 7, 8, 9])
    assert latest.name == ("ckpt-0001-000001" if every else "ckpt-0001")
    assert [h["epoch"] for h in result.history] == [1, 2]
    for key, value in straight.state_dict().items():
        assert torch.allclose(value, resumed.state_dict()[key], atol=1e-6), key


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path: Path) -> None:
    _run(tmp_path, epochs=1)
    good = ckpt.latest_checkpoint(tmp_path / "checkpoints")
    assert good is not None
    before = load_file(str(good / "student.safetensors"))
    with pytest.raises(TrainingDiverged, match="non-finite"):
        _run(tmp_path, epochs=3, resume=True, poison=True)
    assert ckpt.latest_checkpoint(tmp_path / "checkpoints") == good
    after = load_file(str(good / "student.safetensors"))
    assert all(torch.equal(before[k], after[k]) for k in before)
