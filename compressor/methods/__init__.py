"""Training methods: importing this package registers every built-in method by name."""

from __future__ import annotations

from importlib import import_module

_MODULES = [
    "natural",
    "pgd_at",
    "trades",
    "kd",
    "ard",
    "rslad",
    "adaad",
    "mtard",
    "ciard",
    "mmt_ard",
    "tecoa",
    "fare",
]

for _module in _MODULES:
    import_module(f"{__name__}.{_module}")
