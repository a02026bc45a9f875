"""Checks that catch an evaluation that cannot be trusted (gradient masking, broken attacks, bad models).

Each returns a :class:`SanityCheck`; they run on a small subset of correctly classified images, so they
cost a fraction of the evaluation. What they look for (Athalye et al. 2018; Carlini et al. 2019; the
AutoAttack checks): adversarial examples outside the threat model, a model that returns probabilities
or is random, zero / non-finite input gradients, an attack that gets weaker with more steps and
restarts, robust accuracy that does not fall to about zero at a huge radius, and a black-box attack
that beats the white-box ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from compressor.attacks import get_attack
from compressor.attacks.base import Model, Norm, logits_of
from compressor.evaluation.result import SanityCheck

SQUARE_QUERIES = 1000  # budget of the stand-in Square run when the evaluation has no Square of its own
RETRY_ATTACK, RETRY_RESTARTS = "pgd100", 10  # the harder white-box attack on the points only Square fooled
RETRY_NAME = f"PGD-100 with {RETRY_RESTARTS} restarts"


def _allowed(n: int, fraction: float) -> int:
    """How many samples a check tolerates: ``fraction`` of ``n``, at least one."""
    return max(1, math.floor(fraction * n))


def check_bounds(violation: float, eps: float) -> SanityCheck:
    """Every adversarial example lies in the eps-ball and the [0,1] box."""
    ok = violation <= 1e-5 * max(eps, 1.0)
    msg = (
        "all adversarial examples inside the eps-ball and [0,1]"
        if ok
        else f"an attack left the threat model by {violation:.3g}: its numbers are invalid"
    )
    return SanityCheck("perturbation_bounds", ok, msg, {"max_violation": violation})


@torch.no_grad()
def check_outputs(model: Model, x: Tensor) -> list[SanityCheck]:
    """The model returns logits (not probabilities) and the same output twice for the same input."""
    a, b = logits_of(model, x), logits_of(model, x)
    probs = bool(a.min() >= 0) and bool(a.max() <= 1) and bool(((a.sum(1) - 1).abs() < 1e-4).all())
    drift = float((a - b).abs().max())
    random = drift > 1e-4 * (1.0 + float(a.abs().max()))
    return [
        SanityCheck(
            "outputs_are_logits",
            not probs,
            "the model returns probabilities: attacks need logits, remove the softmax"
            if probs
            else "outputs look like logits",
        ),
        SanityCheck(
            "deterministic",
            not random,
            f"two forward passes differ by {drift:.3g}: a randomised model needs an EOT evaluation"
            if random
            else "the model is deterministic",
            {"max_difference": drift},
        ),
    ]


def check_gradients(model: Model, x: Tensor, y: Tensor) -> SanityCheck:
    """Input gradients of the cross-entropy are finite and not zero (zero means masked gradients)."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(F.cross_entropy(logits_of(model, x), y, reduction="sum"), x)
    flat = grad.flatten(1)
    finite = bool(torch.isfinite(flat).all())
    zero = int((flat.abs().sum(1) == 0).sum())
    ok = finite and zero <= 0.01 * len(y)
    if not finite:
        msg = "input gradients contain NaN/Inf"
    elif not ok:
        msg = f"{zero}/{len(y)} images have an all-zero input gradient: gradients are masked (saturated softmax, rounding, ...)"
    else:
        msg = f"input gradients finite and non-zero ({zero}/{len(y)} zero)"
    return SanityCheck("gradients", ok, msg, {"zero_gradient": zero, "finite": finite, "n": len(y)})


def _robust_count(
    name: str,
    model: Model,
    x: Tensor,
    y: Tensor,
    eps: float,
    norm: Norm,
    seed: int,
    batch_size: int,
    **params: Any,
) -> int:
    return int(
        get_attack(name)(
            model, x, y, eps=eps, norm=norm, seed=seed, batch_size=batch_size, **params
        ).robust.sum()
    )


def check_more_steps(
    model: Model, x: Tensor, y: Tensor, *, eps: float, norm: Norm, seed: int, batch_size: int
) -> SanityCheck:
    """PGD with 100 steps and 3 restarts is not weaker than PGD with 20 steps."""
    weak = _robust_count("pgd20", model, x, y, eps, norm, seed, batch_size)
    strong = _robust_count("pgd100", model, x, y, eps, norm, seed, batch_size, restarts=3)
    ok = strong - weak <= _allowed(len(y), 0.01)
    msg = (
        f"PGD-100x3 leaves {strong}/{len(y)} robust, PGD-20 {weak}/{len(y)}"
        if ok
        else f"more steps and restarts RAISED robustness ({weak} -> {strong} of {len(y)}): the attack or the model is unstable"
    )
    return SanityCheck("more_steps_and_restarts", ok, msg, {"pgd20": weak, "pgd100x3": strong, "n": len(y)})


def large_eps_for(norm: Norm, x: Tensor) -> float:
    """A radius at which any classifier can be fooled: half the pixel range (L-inf) or its L2 equivalent."""
    return 0.5 if norm == "linf" else 0.5 * math.sqrt(x[0].numel())


def check_large_eps(
    model: Model, x: Tensor, y: Tensor, *, norm: Norm, seed: int, batch_size: int
) -> SanityCheck:
    """At a huge radius PGD must fool (almost) every image."""
    big = large_eps_for(norm, x)
    left = _robust_count("pgd20", model, x, y, big, norm, seed, batch_size)
    ok = left <= _allowed(len(y), 0.02)
    msg = (
        f"PGD-20 at eps={big:.3g} leaves {left}/{len(y)} robust"
        if ok
        else f"PGD-20 at eps={big:.3g} still leaves {left}/{len(y)} robust: the attack is not working (masked or broken gradients)"
    )
    return SanityCheck("large_eps", ok, msg, {"eps": big, "robust": left, "n": len(y)})


def check_black_box(
    flags: dict[str, Tensor],
    kinds: Mapping[str, str],
    stages: dict[str, dict[str, Tensor]],
    square_on_subset: Callable[[Tensor], tuple[Tensor, int]] | None = None,
    white_box_retry: Callable[[Tensor], int] | None = None,
) -> SanityCheck:
    """The black-box Square attack does not fool points that a white-box attack cannot fool.

    Uses the evaluation's own black-box attacks and the black-box stages of its ensembles (AutoAttack's
    Square), each judged by its registry kind; without one, ``square_on_subset``
    (given the white-box robust mask, it returns the mask of points Square fooled and how many it
    attacked) runs a short Square on a subset. Points only Square fooled go to ``white_box_retry``
    (a stronger white-box attack, it returns how many of them it fools too): when gradients work, more
    steps and restarts find them as well (Carlini et al. 2019, "try harder before calling it masking");
    the check fails on the points that stay out of the white-box attack's reach.
    """
    white = [f for name, f in flags.items() if kinds[name] == "white-box"]
    black = [~f for name, f in flags.items() if kinds[name] == "black-box"]
    for masks in stages.values():  # an ensemble's cascade: the robust mask after each of its stages
        order = [name for name in masks if name != "clean"]
        stage_kinds = {name: get_attack(name).kind for name in order}
        whites = [name for name in order if stage_kinds[name] == "white-box"]
        if whites:  # cumulative: robust to every white-box stage up to the last one
            white.append(masks[whites[-1]])
        for i, name in enumerate(order):
            if stage_kinds[name] == "black-box":
                before = masks[order[i - 1]] if i else masks["clean"]
                black.append(before & ~masks[name])
    if not white:
        return SanityCheck("black_box_vs_white_box", None, "no white-box attack to compare with")
    white_robust = torch.stack(white).all(0)
    if black:
        black_fooled = torch.stack(black).any(0)
        only_black, considered = white_robust & black_fooled, int(white_robust.sum())
    elif square_on_subset is not None:
        only_black, considered = square_on_subset(white_robust)
    else:
        return SanityCheck("black_box_vs_white_box", None, "no Square run to compare with")
    extra = int(only_black.sum())
    retried = white_box_retry(only_black) if extra and white_box_retry is not None else 0
    unexplained = extra - retried
    ok = unexplained <= _allowed(len(white_robust), 0.002)
    msg = f"Square fooled {extra} of the {considered} points the white-box attacks left robust"
    if extra and white_box_retry is not None:
        msg += f"; {RETRY_NAME} fooled {retried} of those too"
    if not ok:
        msg += f": {unexplained} out of gradient attacks' reach, gradients are likely masked, the white-box numbers overestimate robustness"
    details = {"extra_fooled": extra, "white_box_retry_fooled": retried, "considered": considered}
    return SanityCheck("black_box_vs_white_box", ok, msg, details)
