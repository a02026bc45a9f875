"""CPU bf16 trains right or not at all: the convolution shapes whose bf16 weight gradient oneDNN gets wrong
(a stride past the input's edge) send `auto` to fp32 and refuse an explicit bf16, and every other shape
agrees with float64 on this CPU."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from compressor.config.schema import TrainConfig
from compressor.engine.cpu_bf16 import bf16_unsafe_convolutions, strides_past_input
from compressor.engine.precision import resolve_speed
from compressor.errors import UserInputError

CPU = torch.device("cpu")
AMX = {"model": "xeon", "isa": {"amx_bf16": True, "avx512_bf16": True}}


def _resnet_tail() -> nn.Module:
    """An ImageNet-style stage that halves the map twice: on 4x4 inputs its second stride-2 conv sees 1x1."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, stride=2, padding=1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 3),
    )


def test_the_stride_past_a_1x1_map_is_found_by_name_and_the_model_left_as_it_was():
    model = _resnet_tail().train()
    assert bf16_unsafe_convolutions(model, torch.rand(2, 1, 4, 4)) == ["4"]
    assert bf16_unsafe_convolutions(model, torch.rand(2, 1, 16, 16)) == []
    assert model.training


def test_auto_falls_back_to_fp32_naming_the_layer_and_explicit_bf16_is_refused():
    x = torch.rand(2, 1, 4, 4)
    speed = resolve_speed(TrainConfig(), CPU, AMX)
    assert speed.precision == "bf16"
    checked = speed.with_bf16_shapes_checked(_resnet_tail(), x)
    assert checked.precision == "fp32" and "'4'" in checked.reason and checked.reason.startswith("auto: fp32")
    assert speed.with_bf16_shapes_checked(_resnet_tail(), torch.rand(2, 1, 16, 16)) is speed
    with pytest.raises(UserInputError, match="train.precision=bf16: convolution '4'"):
        resolve_speed(TrainConfig(precision="bf16"), CPU).with_bf16_shapes_checked(_resnet_tail(), x)
    fp32 = resolve_speed(TrainConfig(precision="fp32"), CPU)
    assert fp32.with_bf16_shapes_checked(_resnet_tail(), x) is fp32


def _bf16_weight_gradient_error(conv: nn.Conv2d, x: torch.Tensor, trials: int) -> float:
    """The worst relative L2 error of the bf16-autocast weight gradient against float64's, memory dirtied
    with NaN before each backward (the defect reads uninitialised memory)."""
    weight = conv.weight.detach().double().requires_grad_()
    F.conv2d(x.double(), weight, stride=conv.stride, padding=conv.padding).sum().backward()
    assert weight.grad is not None
    worst = 0.0
    for _ in range(trials):
        conv.weight.grad = None
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = conv(x)
        dirt = torch.full((conv.weight.numel() * 4,), float("nan"))
        del dirt
        out.float().sum().backward()
        got = conv.weight.grad.double()
        error = float((got - weight.grad).norm() / weight.grad.norm()) if torch.isfinite(got).all() else 1e9
        worst = max(worst, error)
    return worst


SIZES = [(1, 1), (1, 4), (4, 1), (2, 2), (3, 3), (5, 5)]
KERNELS = [(1, 0), (3, 1), (5, 2)]


@pytest.mark.parametrize(("size", "kernel"), itertools.product(SIZES, KERNELS), ids=str)
def test_every_shape_the_check_lets_through_trains_right_in_bf16_on_this_cpu(size, kernel):
    torch.manual_seed(0)
    (k, padding), (height, width) = kernel, size
    for stride in (1, 2, 3):
        conv = nn.Conv2d(16, 16, k, stride=stride, padding=padding, bias=False)
        if strides_past_input(conv, height, width):
            continue
        error = _bf16_weight_gradient_error(conv, torch.randn(8, 16, height, width), trials=8)
        assert error < 0.05, f"{size} kernel {k} stride {stride}: bf16 weight gradient {error:.3g} off"
