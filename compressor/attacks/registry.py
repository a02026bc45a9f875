"""Attacks by the names a recipe uses ("pgd20", "apgd-ce", "autoattack", ...), like timm's model registry.

Besides the fixed names, ``pgd<N>``, ``pgd<N>-<step>`` and ``cw<N>`` name N-step variants: the step is
eps/4 by default, and ``-<step>`` gives it as the absolute step at the reference radius 8/255, scaled with
eps (``pgd20-0.003`` = 20 steps of 0.003 at eps 8/255, of 0.0015 at 4/255).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import torch
from torch import Tensor

from compressor.attacks.apgd import apgd, apgd_targeted
from compressor.attacks.autoattack import autoattack
from compressor.attacks.base import AttackResult, Model, batched
from compressor.attacks.fab import fab_targeted
from compressor.attacks.fgsm import fgsm
from compressor.attacks.pgd import Norm
from compressor.attacks.pgd_attack import cw_attack, pgd_attack
from compressor.attacks.square import square
from compressor.errors import UserInputError

REFERENCE_EPS = 8 / 255
Kind = Literal["white-box", "black-box", "ensemble"]


@dataclass(frozen=True)
class AttackSpec:
    """A named attack with its parameters; call it like the function it wraps."""

    name: str
    fn: Callable[..., AttackResult]
    kind: Kind
    description: str
    params: Mapping[str, Any] = field(default_factory=dict)
    row_budget: bool = False  # the attack takes ``max_rows``: it gets the batch size as its row budget

    def __call__(
        self,
        model: Model,
        x: Tensor,
        y: Tensor,
        *,
        eps: float,
        norm: Norm = "linf",
        seed: int = 0,
        batch_size: int | None = None,
        device: torch.device | str | None = None,
        **overrides: Any,
    ) -> AttackResult:
        """Attack ``x`` (labels ``y``) in batches of ``batch_size`` on ``device``; results where ``x`` lives."""
        kwargs = {**self.params, **overrides, "eps": eps, "norm": norm, "seed": seed}
        if self.row_budget:
            kwargs.setdefault("max_rows", batch_size or len(y))
        if self.kind == "ensemble":
            return self.fn(model, x, y, batch_size=batch_size, device=device, **kwargs)
        return batched(self.fn, model, x, y, batch_size=batch_size, device=device, **kwargs)


def _pgd(steps: int, rel_step: float, name: str) -> AttackSpec:
    return AttackSpec(
        name,
        pgd_attack,
        "white-box",
        f"PGD, {steps} steps of {rel_step:.4g} x eps, random start",
        {"steps": steps, "rel_step": rel_step},
    )


def _cw(steps: int, name: str) -> AttackSpec:
    return AttackSpec(
        name,
        cw_attack,
        "white-box",
        f"PGD on the CW margin, {steps} steps of eps/4",
        {"steps": steps, "rel_step": 0.25},
    )


_SPECS = [
    AttackSpec("fgsm", fgsm, "white-box", "FGSM, one step of eps"),
    _pgd(20, 0.25, "pgd20"),
    _pgd(20, 0.003 / REFERENCE_EPS, "pgd20-0.003"),
    _pgd(100, 0.25, "pgd100"),
    _cw(20, "cw20"),
    AttackSpec("apgd-ce", apgd, "white-box", "APGD on cross-entropy, 100 iterations", {"loss": "ce"}),
    AttackSpec("apgd-dlr", apgd, "white-box", "APGD on the DLR loss, 100 iterations", {"loss": "dlr"}),
    AttackSpec(
        "apgd-t",
        apgd_targeted,
        "white-box",
        "APGD on targeted DLR, 9 targets x 100 iterations",
        row_budget=True,
    ),
    AttackSpec(
        "fab-t", fab_targeted, "white-box", "targeted FAB, 9 targets x 100 iterations", row_budget=True
    ),
    AttackSpec("square", square, "black-box", "Square Attack, 5000 queries, p_init 0.8"),
    AttackSpec("autoattack", autoattack, "ensemble", "AutoAttack standard: APGD-CE, APGD-T, FAB-T, Square"),
]
ATTACKS: Mapping[str, AttackSpec] = MappingProxyType({spec.name: spec for spec in _SPECS})
_PGD_NAME = re.compile(r"^pgd(\d+)(?:-(\d*\.?\d+))?$")
_CW_NAME = re.compile(r"^cw(\d+)$")


def attack_names() -> list[str]:
    """The fixed attack names, in the order above (``pgd<N>``, ``pgd<N>-<step>``, ``cw<N>`` also work)."""
    return list(ATTACKS)


def get_attack(name: str) -> AttackSpec:
    """The attack called ``name``; an unknown name raises a one-line UserInputError with a suggestion."""
    key = name.strip().lower()
    if key in ATTACKS:
        return ATTACKS[key]
    if match := _PGD_NAME.match(key):
        steps, step = int(match.group(1)), match.group(2)
        rel = float(step) / REFERENCE_EPS if step else 0.25
        if steps > 0 and rel > 0:
            return _pgd(steps, rel, key)
    if (match := _CW_NAME.match(key)) and int(match.group(1)) > 0:
        return _cw(int(match.group(1)), key)
    close = difflib.get_close_matches(key, attack_names(), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise UserInputError(
        f"unknown attack '{name}': use one of {', '.join(attack_names())}, pgd<N>, pgd<N>-<step>, cw<N>{hint}"
    )
