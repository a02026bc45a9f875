"""The speed defaults a recipe gets on the CPU, and the evaluation's temporary channels_last layout."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from compressor.config.schema import TrainConfig
from compressor.engine.precision import resolve_speed
from compressor.errors import UserInputError
from compressor.models.modes import eval_mode


def test_cpu_defaults_are_fp32_eager_channels_last():
    speed = resolve_speed(TrainConfig(), torch.device("cpu"))
    assert speed.dtype is None and not speed.compile and speed.channels_last


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
