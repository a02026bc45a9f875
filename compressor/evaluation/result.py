"""What an evaluation produces: accuracies, timings, settings and sanity checks, as data and as Markdown."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class SanityCheck:
    """One check that the evaluation can be trusted; ``passed`` is None when it could not run."""

    name: str
    passed: bool | None
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvaluationResult:
    """Clean and robust accuracy of one model on ``n`` images, per attack and worst case per sample."""

    n: int
    clean_accuracy: float
    robust_accuracy: dict[str, float]
    worst_case_accuracy: float
    seconds: dict[str, float]
    settings: dict[str, Any]
    sanity_checks: list[SanityCheck] = field(default_factory=list)
    stages: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True unless some sanity check failed (checks that could not run do not count)."""
        return all(check.passed is not False for check in self.sanity_checks)

    @property
    def failed_checks(self) -> list[SanityCheck]:
        """The sanity checks that failed."""
        return [check for check in self.sanity_checks if check.passed is False]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (the content of evaluation.json)."""
        data = asdict(self)
        data["passed"] = self.passed
        return data

    def to_markdown(self) -> str:
        """A Markdown report: settings, the accuracy table, and the sanity checks."""
        s = self.settings
        lines = [
            "# Robustness evaluation",
            "",
            f"{self.n} images, {s.get('norm', '?')} eps = {s.get('eps_text', s.get('eps'))}, seed {s.get('seed')}, "
            f"device {s.get('device')}.",
            "",
            "| attack | accuracy (%) | time (s) |",
            "| --- | ---: | ---: |",
            f"| clean | {100 * self.clean_accuracy:.2f} | |",
        ]
        for name, acc in self.robust_accuracy.items():
            lines.append(f"| {name} | {100 * acc:.2f} | {self.seconds.get(name, float('nan')):.1f} |")
        lines.append(f"| **worst case per sample** | **{100 * self.worst_case_accuracy:.2f}** | |")
        for ensemble, stages in self.stages.items():
            steps = ", ".join(f"{k} {100 * v:.2f}" for k, v in stages.items())
            lines += ["", f"{ensemble} after each stage (%): {steps}."]
        lines += ["", "## Sanity checks", "", "| check | result | detail |", "| --- | --- | --- |"]
        for check in self.sanity_checks:
            mark = {True: "pass", False: "**FAIL**", None: "skipped"}[check.passed]
            lines.append(f"| {check.name} | {mark} | {check.message} |")
        if not self.passed:
            lines += ["", "**Some sanity checks failed: these robust accuracies may be overestimates.**"]
        return "\n".join(lines) + "\n"
