"""Flag models no better than guessing: clean accuracy within a few points of chance (1 / classes)."""

from __future__ import annotations

from typing import Any

from compressor.errors import UserInputError

MARGIN = 0.05  # "within a few points": at most chance + 5 percentage points
SMOKE_NOTE = " (expected in smoke mode: the models train for a few steps, only the wiring is checked)"


def at_chance(accuracy: float, num_classes: int, margin: float = MARGIN) -> bool:
    """True when `accuracy` is at most 1 / num_classes + margin."""
    return accuracy <= 1.0 / num_classes + margin


def chance_message(what: str, accuracy: float, num_classes: int) -> str:
    """One line: which model, its clean accuracy and the chance level."""
    return (
        f"{what} is at chance: {100 * accuracy:.2f}% clean, chance is {100 / num_classes:.2f}% "
        f"for {num_classes} classes"
    )


def chance_warnings(
    teachers: list[dict[str, Any]], student_clean: float | None, num_classes: int, *, smoke: bool = False
) -> list[str]:
    """A message for each teacher (summary rows) and the student whose clean accuracy is at chance."""
    found = [
        chance_message(f"teacher '{t['role']}'", t["test_clean"], num_classes)
        for t in teachers
        if at_chance(t["test_clean"], num_classes)
    ]
    if student_clean is not None and at_chance(student_clean, num_classes):
        found.append(chance_message("the student", student_clean, num_classes))
    return [message + SMOKE_NOTE for message in found] if smoke else found


def trained_at_chance(history: list[dict[str, Any]], num_classes: int) -> str | None:
    """A warning when no validated epoch of a training got above chance; None otherwise (or unvalidated)."""
    clean = [h["val_clean"] for h in history if "val_clean" in h]
    if not clean or not at_chance(max(clean), num_classes):
        return None
    return (
        chance_message(f"the student (best of {len(clean)} validated epochs)", max(clean), num_classes)
        + ": evaluating and exporting it will measure nothing; train it longer, and lower optim.lr if its loss"
        " grew, raise it if the loss stalled"
    )


def stop_at_chance_teacher(teachers: list[dict[str, Any]], num_classes: int, allowed: bool) -> None:
    """Refuse to distil from a teacher at chance unless the recipe allows it (train.allow_chance_teacher)."""
    if allowed:
        return
    for message in chance_warnings(teachers, None, num_classes):
        raise UserInputError(
            f"{message}; distilling from it teaches nothing: train it longer or give it weights, "
            "or set train.allow_chance_teacher: true to go on"
        )
