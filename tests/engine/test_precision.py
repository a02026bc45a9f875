"""The speed defaults a recipe gets on the CPU, and the evaluation's temporary channels_last layout."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from compressor_edge.machine import summarize
from torch import nn

from compressor.config.schema import TrainConfig
from compressor.engine import cpu_bf16
from compressor.engine.precision import resolve_speed
from compressor.errors import UserInputError
from compressor.models.modes import eval_mode

NO_BF16, AVX512_BF16 = summarize("plain", {"avx2"}), summarize("epyc", {"avx2", "avx512f", "avx512_bf16"})
AMX = summarize("xeon", {"avx512f", "avx512_bf16", "amx_bf16", "amx_int8"})
CPU = torch.device("cpu")


def _net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


def test_cpu_defaults_are_eager_channels_last_and_fp32_without_bf16_instructions():
    speed = resolve_speed(TrainConfig(), CPU, NO_BF16)
    assert speed.dtype is None and not speed.compile and speed.channels_last
    assert speed.describe() == {
        "precision": "fp32",
        "reason": speed.reason,
        "channels_last": speed.channels_last,
        "compile": False,
    }
    assert "no bf16" in speed.reason and "compile" not in speed.line()
    assert speed.for_model(_net(), torch.rand(2, 1, 8, 8), torch.zeros(2, dtype=torch.long)) is speed


def test_auto_picks_bf16_on_amx_without_measuring(monkeypatch):
    monkeypatch.setattr(cpu_bf16, "time_training_step", lambda *a: pytest.fail("AMX needs no timing"))
    speed = resolve_speed(TrainConfig(), CPU, AMX)
    assert speed.precision == "bf16" and "AMX" in speed.reason
    assert speed.for_model(_net(), torch.rand(2, 1, 8, 8), torch.zeros(2, dtype=torch.long)) is speed


@pytest.mark.parametrize(("fp32_ms", "bf16_ms", "chosen"), [(10.0, 5.0, "bf16"), (10.0, 9.5, "fp32")])
def test_avx512_bf16_times_the_model_once_and_caches_the_verdict(
    monkeypatch, tmp_path, fp32_ms, bf16_ms, chosen
):
    monkeypatch.setenv("COMPRESSOR_CACHE_DIR", str(tmp_path))
    calls = []

    def fake_timing(model, x, y, rounds=5):
        calls.append(tuple(x.shape))
        return cpu_bf16.StepTiming(fp32_ms, bf16_ms, len(y), rounds)

    monkeypatch.setattr(cpu_bf16, "time_training_step", fake_timing)
    pending = resolve_speed(TrainConfig(), CPU, AVX512_BF16)
    assert pending.dtype is None and pending.measure  # fp32 until a model is timed
    x, y = torch.rand(4, 1, 8, 8), torch.zeros(4, dtype=torch.long)
    first = pending.for_model(_net(), x, y)
    again = pending.for_model(_net(), x, y)
    assert first.precision == again.precision == chosen and not first.measure
    assert calls == [(4, 1, 8, 8)], "the second model of the same shape must come from the cache"
    assert "measured now" in first.reason and "cached" in again.reason
    cached = json.loads((tmp_path / "precision.json").read_text())
    assert len(cached) == 1 and next(iter(cached.values()))["fp32_ms"] == fp32_ms
    assert (
        resolve_speed(TrainConfig(precision="fp32"), CPU, AVX512_BF16).for_model(_net(), x, y).dtype is None
    )


def test_a_torn_cache_is_measured_again(monkeypatch, tmp_path):
    monkeypatch.setenv("COMPRESSOR_CACHE_DIR", str(tmp_path))
    (tmp_path / "precision.json").write_text("{not json")
    speed = resolve_speed(TrainConfig(), CPU, AVX512_BF16)
    resolved = speed.for_model(_net(), torch.rand(4, 1, 8, 8), torch.zeros(4, dtype=torch.long))
    assert "measured now" in resolved.reason and json.loads((tmp_path / "precision.json").read_text())


def test_timing_a_step_leaves_the_model_and_the_random_stream_alone():
    model, x, y = _net(), torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 0])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(3)
    expected = torch.rand(1)
    torch.manual_seed(3)
    timing = cpu_bf16.time_training_step(model, x, y, rounds=1)
    assert torch.rand(1) == expected and timing.fp32_ms > 0 and timing.bf16_ms > 0
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key])


def test_bf16_autocast_keeps_batchnorm_statistics_loss_and_optimizer_state_in_fp32():
    model = resolve_speed(TrainConfig(precision="bf16"), CPU).prepare(_net()).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    speed = resolve_speed(TrainConfig(precision="bf16"), CPU)
    with speed.autocast()():
        logits = model(speed.prepare_batch(torch.rand(8, 1, 8, 8)))
        loss = F.cross_entropy(logits.float(), torch.randint(0, 3, (8,)))
    assert logits.dtype is torch.bfloat16 and loss.dtype is torch.float32
    loss.backward()
    optimizer.step()
    bn = model[1]
    assert bn.running_mean.dtype is bn.running_var.dtype is bn.weight.dtype is torch.float32
    assert bool(bn.running_var.ne(1).any()), "the statistics were updated"
    assert all(p.grad.dtype is torch.float32 for p in model.parameters())
    assert all(s["momentum_buffer"].dtype is torch.float32 for s in optimizer.state.values())


def test_explicit_settings_win_over_the_defaults():
    speed = resolve_speed(TrainConfig(channels_last=False, precision="bf16"), torch.device("cpu"))
    assert speed.dtype is torch.bfloat16 and not speed.channels_last
    with pytest.raises(UserInputError, match="fp16 needs a CUDA device"):
        resolve_speed(TrainConfig(precision="fp16"), torch.device("cpu"))


def test_prepare_puts_conv_weights_in_channels_last():
    model = resolve_speed(TrainConfig(), torch.device("cpu")).prepare(nn.Conv2d(3, 8, 3))
    assert model.weight.is_contiguous(memory_format=torch.channels_last) and not model.weight.is_contiguous()


def test_eval_mode_relayouts_for_the_block_and_restores_mode_and_layout():
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4)).train()
    x = torch.rand(2, 2, 8, 8)
    expected = model.eval()(x)
    model.train()
    with eval_mode(model, channels_last=True):
        assert not model.training
        assert model[0].weight.is_contiguous(memory_format=torch.channels_last)
        assert not model[0].weight.is_contiguous()
        torch.testing.assert_close(model(x), expected)
    assert model.training and model[0].weight.is_contiguous()


def test_prepare_batch_relayouts_image_batches_only():
    speed = resolve_speed(TrainConfig(), torch.device("cpu"))
    images, tokens = speed.prepare_batch(torch.rand(2, 3, 4, 4)), speed.prepare_batch(torch.rand(2, 5))
    assert images.is_contiguous(memory_format=torch.channels_last) and not images.is_contiguous()
    assert tokens.is_contiguous()


def test_the_console_line_says_when_torch_compile_is_on():
    speed = resolve_speed(TrainConfig(compile=True), CPU, NO_BF16)
    assert speed.line().endswith("; torch.compile") and speed.describe()["compile"] is True
