"""Verification gates: one set of tolerances per format, with stable names the recipe refers to.

Formulas (each is checked per format and backend; accuracies are fractions in [0, 1]):
  parity       max |logits_runtime - logits_pytorch| over clean and adversarial probes <= max_abs_logit_diff
  rel. parity  that max / logit scale <= max_rel_logit_diff, where the logit scale is the mean over the same
               probes of PyTorch's (max logit - min logit): int8 rounds every activation to 1/255 of its
               range, so its logit error grows with the logits' own scale and an absolute bound fails
               confident models for no reason (or passes low-scale ones that are wrong)
  agreement    mean(argmax runtime == argmax pytorch) over the same probes            >= min_top1_agreement
  clean        pytorch_clean_acc - runtime_clean_acc                                  <= max_clean_acc_drop
  adv probes   pytorch_adv_acc - runtime_adv_acc                                      <= max_adv_acc_drop
  square       pytorch_square_acc - square_acc, on the probes PyTorch keeps robust, with the budget and seed
               the export recorded PyTorch's Square accuracy at                       <= max_square_acc_drop
               and fp32_square_acc - square_acc (same backend, same points and seed)  <= max_square_acc_drop
               (the bound rounded up to whole points of the sample: with 12 points, 0.05 allows one to fall)
  square floor square_acc >= min_square_acc            (only when set)
  latency      median batch-1 latency in ms <= max_latency_ms   (only when set)
  size         file size in MiB <= max_size_mb                  (only when set)
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FormatTolerances:
    """The gates of one format."""

    max_abs_logit_diff: float | None
    min_top1_agreement: float
    max_clean_acc_drop: float
    max_adv_acc_drop: float
    max_square_acc_drop: float
    max_rel_logit_diff: float | None = None
    min_square_acc: float | None = None
    max_latency_ms: float | None = None
    max_size_mb: float | None = None


_OPTIONAL = frozenset(
    {"max_abs_logit_diff", "max_rel_logit_diff", "min_square_acc", "max_latency_ms", "max_size_mb"}
)


def _fp32() -> FormatTolerances:
    return FormatTolerances(1e-3, 0.99, 0.01, 0.01, 0.02)


def _fp16() -> FormatTolerances:
    return FormatTolerances(0.1, 0.98, 0.02, 0.03, 0.03)


def _bf16() -> FormatTolerances:
    # the fp32 file computed in bf16 by its runtime (8 significant bits): logits judged relative to their scale
    return FormatTolerances(None, 0.98, 0.02, 0.03, 0.03, max_rel_logit_diff=0.05)


def _int8() -> FormatTolerances:
    # int8 is judged on what it decides (agreement, accuracies, Square) and on logits relative to their scale
    return FormatTolerances(None, 0.90, 0.05, 0.05, 0.05, max_rel_logit_diff=0.25)


def _closest(name: str, choices: list[str]) -> str:
    match = difflib.get_close_matches(name, choices, n=1)
    return f" (did you mean '{match[0]}'?)" if match else f" (expected one of: {', '.join(choices)})"


def _format_from_dict(base: FormatTolerances, data: Mapping[str, Any], where: str) -> FormatTolerances:
    names = [f.name for f in dataclasses.fields(FormatTolerances)]
    for key, value in data.items():
        if key not in names:
            raise ValueError(f"{where}.{key}: unknown tolerance{_closest(key, names)}")
        if value is None and key in _OPTIONAL:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{where}.{key}: expected a number, got {value!r}")
    return dataclasses.replace(base, **dict(data))


@dataclass(frozen=True)
class VerifyTolerances:
    """Tolerances for every format; defaults: fp32 tight, fp16 and bf16 looser, int8 loosest.

    `bf16` judges the rows of a backend that computes the fp32 file in bf16 (its `precision`).
    """

    fp32: FormatTolerances = field(default_factory=_fp32)
    fp16: FormatTolerances = field(default_factory=_fp16)
    bf16: FormatTolerances = field(default_factory=_bf16)
    int8: FormatTolerances = field(default_factory=_int8)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> VerifyTolerances:
        """Overlay `{format: {name: value}}` on the defaults; unknown keys raise ValueError (one line)."""
        base = cls()
        if not data:
            return base
        formats = [f.name for f in dataclasses.fields(cls)]
        updates = {}
        for fmt, values in data.items():
            if fmt not in formats:
                raise ValueError(f"tolerances.{fmt}: unknown format{_closest(fmt, formats)}")
            if not isinstance(values, Mapping):
                raise ValueError(f"tolerances.{fmt}: expected a mapping of tolerance names to numbers")
            updates[fmt] = _format_from_dict(getattr(base, fmt), values, f"tolerances.{fmt}")
        return dataclasses.replace(base, **updates)

    def for_format(self, fmt: str) -> FormatTolerances:
        """The gates of one format."""
        return getattr(self, fmt)

    def to_dict(self) -> dict[str, dict[str, float | None]]:
        """Plain dict, the inverse of from_dict."""
        return dataclasses.asdict(self)
