"""Is distilling from these teachers worth it? Warnings when a teacher is not stronger than it should be.

Distillation can only transfer what the teacher has: a robust teacher no more robust than the student it
teaches, or a clean teacher no more accurate than the robust one, makes the method's extra terms noise
(measured: on Fashion-MNIST such a teacher left every distilled student below the same student trained alone).
Torch-free: it reads the teachers stage's summary rows, the evaluate stage's teacher rows (the teachers
under the student's evaluation attack and threat) and the student's evaluation.
"""

from __future__ import annotations

from typing import Any


def _by_role(teachers: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {t["role"]: t for t in teachers}


def clean_teacher_warning(teachers: list[dict[str, Any]]) -> str | None:
    """A message when the clean teacher is not more accurate on clean images than the robust one."""
    roles = _by_role(teachers)
    if "clean" not in roles or "robust" not in roles:
        return None
    clean, robust = roles["clean"]["test_clean"], roles["robust"]["test_clean"]
    if clean > robust:
        return None
    return (
        f"the clean teacher ({100 * clean:.2f}% clean) is not more accurate than the robust teacher "
        f"({100 * robust:.2f}%): its clean targets add nothing; train it longer or give it better weights"
    )


def robust_teacher_warning(
    teachers: list[dict[str, Any]], student_robust: dict[str, float], margin: float = 0.0
) -> str | None:
    """A message when the robust teacher is not more robust than the distilled student (plus `margin`).

    `teachers` are the evaluate stage's rows (`evaluate/teachers.json`: role, attack, accuracy), compared
    with the student's accuracy under the same attack at the same threat; nothing to say when either is missing.
    """
    teacher = _by_role(teachers).get("robust")
    if not teacher or teacher.get("attack") not in student_robust:
        return None
    attack, teacher_acc = teacher["attack"], teacher["accuracy"]
    student_acc = student_robust[attack]
    if teacher_acc > student_acc + margin:
        return None
    ahead = f" by more than {100 * margin:.1f} points" if margin else ""
    return (
        f"the robust teacher ({100 * teacher_acc:.2f}% under {attack}) is not more robust than the distilled "
        f"student ({100 * student_acc:.2f}%){ahead}: it has little to teach; give it more epochs, attack steps "
        "or capacity, or compare with the student trained alone (method pgd_at)"
    )


def teacher_warnings(
    teachers: list[dict[str, Any]],
    evaluation: dict[str, Any] | None,
    at_threat: list[dict[str, Any]],
    margin: float = 0.0,
) -> list[str]:
    """Every teacher warning of a run: the clean-teacher one (teachers stage summary rows) and, once the
    student is evaluated, the robust-teacher one (`at_threat`: the evaluate stage's teacher rows)."""
    found = [clean_teacher_warning(teachers)]
    if evaluation:
        found.append(robust_teacher_warning(at_threat, evaluation.get("robust_accuracy", {}), margin))
    return [message for message in found if message]
