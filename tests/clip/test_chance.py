"""Models no better than guessing are flagged; a teacher at chance stops distillation unless allowed."""

from __future__ import annotations

from pathlib import Path

import torch
from typer.testing import CliRunner

from compressor.cli.main import app
from compressor.config.schema import ModelSpec
from compressor.evaluation.chance import at_chance, chance_warnings, trained_at_chance
from compressor.models import create_classifier
from compressor.models.weights import save_weights


def test_within_five_points_of_one_over_classes_is_chance() -> None:
    assert at_chance(0.149, 10) and at_chance(0.0, 10) and at_chance(0.54, 2)
    assert not at_chance(0.16, 10) and not at_chance(0.6, 2)


def test_each_model_at_chance_gets_a_message() -> None:
    teachers = [{"role": "robust", "test_clean": 0.0891}, {"role": "clean", "test_clean": 0.9}]
    messages = chance_warnings(teachers, 0.1, 10)
    assert len(messages) == 2
    assert messages[0].startswith("teacher 'robust' is at chance: 8.91% clean, chance is 10.00%")
    assert messages[1].startswith("the student is at chance")
    assert chance_warnings(teachers[1:], 0.8, 10) == []


def test_a_student_never_above_chance_on_validation_gets_a_warning() -> None:
    stuck = [{"epoch": 0, "val_clean": 0.09}, {"epoch": 1, "val_clean": 0.12}]
    warning = trained_at_chance(stuck, 10)
    assert warning is not None and warning.startswith("the student (best of 2 validated epochs) is at chance")
    assert "12.00% clean" in warning and "lower optim.lr" in warning
    assert trained_at_chance([*stuck, {"epoch": 2, "val_clean": 0.4}], 10) is None  # one good epoch is enough
    assert trained_at_chance([{"epoch": 0, "train_loss": 2.3}], 10) is None  # never validated: nothing known


def _constant_teacher(path: Path) -> Path:
    """A digits tiny_cnn with every weight zero: the same logits for every image, i.e. a guess."""
    model = create_classifier(ModelSpec(name="tiny_cnn"), num_classes=10, in_chans=1, class_names=None)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    save_weights(model, path)
    return path


def test_a_teacher_at_chance_stops_distill_unless_the_recipe_allows_it(tiny_recipe, tmp_path: Path) -> None:
    recipe = tiny_recipe(
        teachers__0__train=None,
        teachers__0__model__checkpoint=str(_constant_teacher(tmp_path / "zero.safetensors")),
        train__allow_chance_teacher=False,
        data__limit_test=None,
    )
    runner = CliRunner()
    stopped = runner.invoke(app, ["distill", str(recipe), "--stages", "teachers,distill"])
    lines = [line for line in stopped.output.splitlines() if line.strip()]
    assert stopped.exit_code == 2, stopped.output
    assert (
        lines[-1].startswith("error: teacher 'robust' is at chance") and "allow_chance_teacher" in lines[-1]
    )
    assert any(line.startswith("WARNING teacher 'robust' is at chance") for line in lines), lines
    assert not (tmp_path / "runs" / "tiny" / "distill" / "best.safetensors").exists()

    allowed = runner.invoke(
        app,
        ["distill", str(recipe), "--stages", "teachers,distill,report", "train.allow_chance_teacher=true"],
    )
    assert allowed.exit_code == 0, allowed.output
    assert "WARNING teacher 'robust' is at chance" in allowed.output
    report = (tmp_path / "runs" / "tiny" / "report" / "report.md").read_text()
    assert "**WARNING: teacher 'robust' is at chance" in report
