"""The sanity checks catch models whose gradients are masked or which are not what attacks expect."""

from __future__ import annotations

import io

import torch
from rich.console import Console
from torch import nn

from compressor.evaluation import evaluate_robustness, print_evaluation
from compressor.evaluation.sanity import check_bounds


class Rounded(nn.Module):
    """Quantises its input to the digits' 17 grey levels: the input gradient is exactly zero."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(torch.round(x * 16) / 16)


class SoftmaxOfSoftmax(nn.Module):
    """Returns sharpened probabilities: cross-entropy puts a second, saturated softmax on top."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x):
        return torch.softmax(10 * self.model(x), dim=1)


class Noisy(nn.Module):
    """A randomised 'defence': noise on the logits at every call."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x) + torch.randn(x.shape[0], 10)


def _failed(result):
    return {c.name for c in result.failed_checks}


def test_rounding_model_is_flagged(digits):
    model, x, y = digits
    result = evaluate_robustness(Rounded(model), x, y, attacks=["pgd20"], eps=0.1)
    assert {"gradients", "black_box_vs_white_box"} <= _failed(result)
    assert not result.passed
    buffer = io.StringIO()
    print_evaluation(result, Console(file=buffer, width=160))
    assert "FAIL" in buffer.getvalue() and "overestimates" in buffer.getvalue()
    assert "**FAIL**" in result.to_markdown()


def test_softmax_of_softmax_is_flagged(digits):
    model, x, y = digits
    result = evaluate_robustness(SoftmaxOfSoftmax(model), x, y, attacks=["pgd20"], eps=0.1)
    assert {"outputs_are_logits", "gradients"} <= _failed(result)


def test_randomised_model_is_flagged(digits):
    model, x, y = digits
    torch.manual_seed(0)
    result = evaluate_robustness(Noisy(model), x, y, attacks=["fgsm"], eps=0.1)
    assert "deterministic" in _failed(result)


def test_bounds_check():
    assert check_bounds(0.0, 0.1).passed
    assert not check_bounds(1e-3, 0.1).passed
