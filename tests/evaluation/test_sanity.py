"""The sanity checks catch models whose gradients are masked or which are not what attacks expect."""

from __future__ import annotations

import io

import torch
from rich.console import Console
from torch import nn

from compressor.evaluation import AttackSettings, evaluate_robustness, print_evaluation
from compressor.evaluation.sanity import check_black_box, check_bounds


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
    result = evaluate_robustness(Rounded(model), x, y, attacks=["pgd20"], settings=AttackSettings(eps=0.1))
    assert {"gradients", "black_box_vs_white_box"} <= _failed(result)
    assert not result.passed
    buffer = io.StringIO()
    print_evaluation(result, Console(file=buffer, width=160))
    assert "FAIL" in buffer.getvalue() and "overestimates" in buffer.getvalue()
    assert "**FAIL**" in result.to_markdown()


def test_softmax_of_softmax_is_flagged(digits):
    model, x, y = digits
    result = evaluate_robustness(
        SoftmaxOfSoftmax(model), x, y, attacks=["pgd20"], settings=AttackSettings(eps=0.1)
    )
    assert {"outputs_are_logits", "gradients"} <= _failed(result)


def test_randomised_model_is_flagged(digits):
    model, x, y = digits
    torch.manual_seed(0)
    result = evaluate_robustness(Noisy(model), x, y, attacks=["fgsm"], settings=AttackSettings(eps=0.1))
    assert "deterministic" in _failed(result)


def test_bounds_check():
    assert check_bounds(0.0, 0.1).passed
    assert not check_bounds(1e-3, 0.1).passed


def _square_beats_pgd(fooled_by_square: int, n: int = 100):
    """Flags where PGD-20 leaves every point robust and Square fools the first ``fooled_by_square``."""
    square = torch.ones(n, dtype=torch.bool)
    square[:fooled_by_square] = False
    flags = {"pgd20": torch.ones(n, dtype=torch.bool), "square": square}
    return flags, {"pgd20": "white-box", "square": "black-box"}


def test_points_only_square_fools_are_retried_with_a_harder_white_box_attack():
    flags, kinds = _square_beats_pgd(5)
    seen = []

    def retry(points):
        seen.append(points.clone())
        return int(points.sum())  # a harder gradient attack fools them all: gradients work

    check = check_black_box(flags, kinds, {}, white_box_retry=retry)
    assert check.passed and check.details["white_box_retry_fooled"] == 5
    assert seen[0].nonzero().squeeze(1).tolist() == [0, 1, 2, 3, 4]


def test_points_out_of_a_gradient_attacks_reach_still_fail_the_check():
    flags, kinds = _square_beats_pgd(5)
    assert not check_black_box(flags, kinds, {}, white_box_retry=lambda points: 0).passed
    assert not check_black_box(flags, kinds, {}, white_box_retry=lambda points: 3).passed  # 2 > 1 allowed
    assert not check_black_box(flags, kinds, {}).passed  # no retry: Square's extra points count
    check = check_black_box(flags, kinds, {}, white_box_retry=lambda points: 4)  # 1 left: within 1 allowed
    assert check.passed and "fooled 4 of those too" in check.message


def test_a_weak_white_box_attack_is_not_taken_for_masking(digits):
    """FGSM misses points Square finds; PGD-100 with restarts finds them too, so the gradients work."""
    model, x, y = digits
    result = evaluate_robustness(model, x, y, attacks=["fgsm", "square"], settings=AttackSettings(eps=0.1))
    check = next(c for c in result.sanity_checks if c.name == "black_box_vs_white_box")
    assert check.details["extra_fooled"] > 2
    assert check.details["white_box_retry_fooled"] >= check.details["extra_fooled"] - 1
    assert check.passed


def test_an_ensembles_black_box_stages_are_found_by_their_registry_kind():
    n = 100
    robust = torch.ones(n, dtype=torch.bool)
    after_square = robust.clone()
    after_square[:4] = False  # AutoAttack's Square stage fooled 4 points its white-box stages left robust
    masks = {"clean": robust, "apgd-ce": robust, "apgd-t": robust, "fab-t": robust, "square": after_square}
    flags, kinds = {"autoattack": after_square}, {"autoattack": "ensemble"}
    check = check_black_box(flags, kinds, {"autoattack": masks})
    assert not check.passed and check.details["extra_fooled"] == 4 and check.details["considered"] == n
