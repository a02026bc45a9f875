"""Attacks by the names a recipe uses ("pgd20", "apgd-ce", "autoattack", ...), like timm's model registry.

Each entry is metadata beside its function: kind, parameters, the classes it needs and whether it takes a
row budget. Every attack registers where it is defined, with ``@register_attack`` on its function (several
names may share one function with other parameters); a family registers a name grammar instead
(``register_attack_family``: ``pgd<N>``, ``cw<N>``). The built-in attacks are the modules of
``compressor.attacks``, imported the first time a name is looked up, so adding one is one module there;
users add theirs in their own module, named in a recipe's ``plugins:`` list. Importing this module costs
no torch; looking a name up imports the attacks.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from compressor.errors import UserInputError

Kind = Literal["white-box", "black-box", "ensemble"]


@dataclass(frozen=True)
class AttackSpec:
    """A named attack with its parameters; call it like the function it wraps."""

    name: str
    fn: Callable[..., Any]  # fn(model, x, y, *, eps, norm, seed, **params) -> AttackResult
    kind: Kind
    description: str
    params: Mapping[str, Any] = field(default_factory=dict)
    row_budget: bool = False  # the attack takes ``max_rows``: it gets the batch size as its row budget
    min_classes: int = 2  # fewer classes than this and the attack cannot run (DLR losses need 3-4)

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
_BUILT_IN = "compressor.attacks"
_LOADED: list[str] = []  # the built-in attack modules were imported


def _load_built_in() -> None:
    """Import every module of the attacks package once: each registers the attacks it defines."""
    if _LOADED:
        return
    _LOADED.append(_BUILT_IN)  # first: a module that looks names up while loading must not recurse
    package = importlib.import_module(_BUILT_IN)
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{_BUILT_IN}.{module.name}")


class _Attacks(Mapping[str, AttackSpec]):
    """A read-only view of every fixed attack name, the built-in ones loaded on first use."""

    def __getitem__(self, name: str) -> AttackSpec:
        _load_built_in()
        return _REGISTRY[name]

    def __iter__(self) -> Iterator[str]:
        _load_built_in()
        return iter(list(_REGISTRY))

    def __len__(self) -> int:
        _load_built_in()
        return len(_REGISTRY)


ATTACKS: Mapping[str, AttackSpec] = _Attacks()


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
    """Decorator: make ``fn(model, x, y, *, eps, norm, seed, **params) -> AttackResult`` a recipe attack.

    Stack it to register one function under several names with other ``params``."""

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


def attack_names() -> list[str]:
    """The fixed attack names, in registration order (the families' grammars also name attacks)."""
    return list(ATTACKS)


def attack_grammars() -> list[str]:
    """The name grammars of the registered families, e.g. ``pgd<N>``."""
    _load_built_in()
    return [family.grammar for family in _FAMILIES]


def get_attack(name: str) -> AttackSpec:
    """The attack called ``name``; an unknown name raises a one-line UserInputError with a suggestion."""
    _load_built_in()
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
