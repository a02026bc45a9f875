"""Attacks by the names a recipe uses ("pgd20", "apgd-ce", "autoattack", ...), like timm's model registry.

The registry is torch-free metadata: each entry names its implementation as ``"module:function"`` (imported
on first use) or holds the function itself, with its kind, parameters, the classes it needs and whether it
takes a row budget. Besides fixed names, a family registers a name grammar: ``pgd<N>``, ``pgd<N>-<step>``
and ``cw<N>`` name N-step variants (step eps/4 by default; ``-<step>`` is the absolute step at the
reference radius 8/255, scaled with eps: ``pgd20-0.003`` = 20 steps of 0.003 at 8/255, 0.0015 at 4/255).

Users add their own with the ``register_attack`` decorator on a function in their own module, named in a
recipe's ``plugins:`` list.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from compressor.errors import UserInputError

REFERENCE_EPS = 8 / 255
Kind = Literal["white-box", "black-box", "ensemble"]


@dataclass(frozen=True)
class AttackSpec:
    """A named attack with its parameters; call it like the function it wraps."""

    name: str
    target: str | Callable[..., Any]  # "module:function", imported on first use, or the function
    kind: Kind
    description: str
    params: Mapping[str, Any] = field(default_factory=dict)
    row_budget: bool = False  # the attack takes ``max_rows``: it gets the batch size as its row budget
    min_classes: int = 2  # fewer classes than this and the attack cannot run (DLR losses need 3-4)

    @property
    def fn(self) -> Callable[..., Any]:
        """The attack function."""
        if callable(self.target):
            return self.target
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]

    def __call__(
        self,
        model: Any,
        x: Any,
        y: Any,
        *,
        eps: float,
        norm: str = "linf",
        seed: int = 0,
        batch_size: int | None = None,
        device: Any = None,
        on_batch: Callable[[str, int, int, int], None] | None = None,
        **overrides: Any,
    ) -> Any:
        """Attack ``x`` (labels ``y``) in batches of ``batch_size`` on ``device``; results where ``x`` lives.

        ``on_batch`` hears after each batch (``compressor.attacks.base.OnBatch``); an ensemble hears only
        when its function takes an ``on_batch`` parameter."""
        from compressor.attacks.base import batched

        kwargs = {**self.params, **overrides, "eps": eps, "norm": norm, "seed": seed}
        if self.row_budget:
            kwargs.setdefault("max_rows", batch_size or len(y))
        if self.kind == "ensemble":
            if on_batch is not None and "on_batch" in inspect.signature(self.fn).parameters:
                kwargs["on_batch"] = on_batch
            return self.fn(model, x, y, batch_size=batch_size, device=device, **kwargs)
        return batched(
            self.fn, model, x, y, batch_size=batch_size, device=device, on_batch=on_batch, **kwargs
        )


@dataclass(frozen=True)
class AttackFamily:
    """A name grammar (``pattern``, shown to users as ``grammar``) and how a matching name becomes a spec."""

    grammar: str
    pattern: re.Pattern[str]
    build: Callable[[re.Match[str], str], AttackSpec | None]


_REGISTRY: dict[str, AttackSpec] = {}
_FAMILIES: list[AttackFamily] = []
ATTACKS: Mapping[str, AttackSpec] = MappingProxyType(_REGISTRY)


def add_attack(spec: AttackSpec) -> AttackSpec:
    """Register a spec under its name (names are lower case and unique)."""
    if spec.name != spec.name.lower() or spec.name in _REGISTRY:
        raise ValueError(f"attack name {spec.name!r} is not lower case or is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def register_attack(
    name: str,
    *,
    kind: Kind = "white-box",
    description: str = "",
    params: Mapping[str, Any] | None = None,
    row_budget: bool = False,
    min_classes: int = 2,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: make ``fn(model, x, y, *, eps, norm, seed, **params) -> AttackResult`` a recipe attack."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        doc = (fn.__doc__ or "").strip().splitlines()
        add_attack(
            AttackSpec(
                name,
                fn,
                kind,
                description or (doc[0] if doc else name),
                dict(params or {}),
                row_budget,
                min_classes,
            )
        )
        return fn

    return decorate


def register_attack_family(
    grammar: str, pattern: str, build: Callable[[re.Match[str], str], AttackSpec | None]
) -> None:
    """Register a name grammar, e.g. ``pgd<N>`` with ``^pgd(\\d+)$``; ``build`` returns None to reject."""
    _FAMILIES.append(AttackFamily(grammar, re.compile(pattern), build))


def _pgd(steps: int, rel_step: float, name: str) -> AttackSpec:
    return AttackSpec(
        name,
        "compressor.attacks.pgd:pgd_attack",
        "white-box",
        f"PGD, {steps} steps of {rel_step:.4g} x eps, random start",
        {"steps": steps, "rel_step": rel_step},
    )


def _cw(steps: int, name: str) -> AttackSpec:
    return AttackSpec(
        name,
        "compressor.attacks.pgd:cw_attack",
        "white-box",
        f"PGD on the CW margin, {steps} steps of eps/4",
        {"steps": steps, "rel_step": 0.25},
    )


def _pgd_family(match: re.Match[str], name: str) -> AttackSpec | None:
    steps, step = int(match.group(1)), match.group(2)
    rel = float(step) / REFERENCE_EPS if step else 0.25
    return _pgd(steps, rel, name) if steps > 0 and rel > 0 else None


def _cw_family(match: re.Match[str], name: str) -> AttackSpec | None:
    return _cw(int(match.group(1)), name) if int(match.group(1)) > 0 else None


_REFERENCE = {"n_iter": 100, "n_restarts": 1}
_TARGETED = {**_REFERENCE, "n_target_classes": 9}
AUTOATTACK_STAGES = ("apgd-ce", "apgd-t", "fab-t", "square")

for _spec in (
    AttackSpec("fgsm", "compressor.attacks.fgsm:fgsm", "white-box", "FGSM, one step of eps"),
    _pgd(20, 0.25, "pgd20"),
    _pgd(20, 0.003 / REFERENCE_EPS, "pgd20-0.003"),
    _pgd(100, 0.25, "pgd100"),
    _cw(20, "cw20"),
    AttackSpec(
        "apgd-ce",
        "compressor.attacks.apgd:apgd",
        "white-box",
        "APGD on cross-entropy, 100 iterations",
        {"loss": "ce", **_REFERENCE},
    ),
    AttackSpec(
        "apgd-dlr",
        "compressor.attacks.apgd:apgd",
        "white-box",
        "APGD on the DLR loss, 100 iterations",
        {"loss": "dlr", **_REFERENCE},
        min_classes=3,
    ),
    AttackSpec(
        "apgd-t",
        "compressor.attacks.apgd:apgd_targeted",
        "white-box",
        "APGD on targeted DLR, 9 targets x 100 iterations",
        _TARGETED,
        row_budget=True,
        min_classes=4,
    ),
    AttackSpec(
        "fab-t",
        "compressor.attacks.fab:fab_targeted",
        "white-box",
        "targeted FAB, 9 targets x 100 iterations",
        _TARGETED,
        row_budget=True,
    ),
    AttackSpec(
        "square",
        "compressor.attacks.square:square",
        "black-box",
        "Square Attack, 5000 queries, p_init 0.8",
        {"n_queries": 5000, "p_init": 0.8, "n_restarts": 1, "rescale_schedule": False},
    ),
):
    add_attack(_spec)
add_attack(
    AttackSpec(
        "autoattack",
        "compressor.attacks.autoattack:autoattack",
        "ensemble",
        "AutoAttack standard: " + ", ".join(n.upper() for n in AUTOATTACK_STAGES),
        {"stages": AUTOATTACK_STAGES},
        min_classes=max(_REGISTRY[n].min_classes for n in AUTOATTACK_STAGES),
    )
)
register_attack_family("pgd<N>, pgd<N>-<step>", r"^pgd(\d+)(?:-(\d*\.?\d+))?$", _pgd_family)
register_attack_family("cw<N>", r"^cw(\d+)$", _cw_family)


def attack_names() -> list[str]:
    """The fixed attack names, in registration order (the families' grammars also name attacks)."""
    return list(_REGISTRY)


def attack_grammars() -> list[str]:
    """The name grammars of the registered families, e.g. ``pgd<N>``."""
    return [family.grammar for family in _FAMILIES]


def get_attack(name: str) -> AttackSpec:
    """The attack called ``name``; an unknown name raises a one-line UserInputError with a suggestion."""
    key = name.strip().lower()
    if key in _REGISTRY:
        return _REGISTRY[key]
    for family in _FAMILIES:
        if (match := family.pattern.match(key)) and (spec := family.build(match, key)) is not None:
            return spec
    close = difflib.get_close_matches(key, attack_names(), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise UserInputError(
        f"unknown attack '{name}': use one of {', '.join([*attack_names(), *attack_grammars()])}{hint}"
    )
