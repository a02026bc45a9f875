"""The Python API as a notebook uses it: distill a dict recipe, evaluate any module, export it, all in-process."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from toy_models import DigitsCNN, train_digits_cnn

import compressor
from compressor.bundling import ExportOptions
from compressor.errors import UserInputError
from tests.conftest import TINY_RECIPE


@pytest.fixture(scope="module")
def digits_model():
    model, x, y = train_digits_cnn(epochs=3)
    return model, x[:32], y[:32]


def test_import_stays_light() -> None:
    code = "import sys, compressor; print('torch' in sys.modules, callable(compressor.distill))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]


@pytest.mark.slow
def test_distill_a_dict_recipe_returns_the_run(tmp_path) -> None:
    recipe = copy.deepcopy(TINY_RECIPE)
    recipe["run"]["output_dir"] = str(tmp_path / "runs")
    run = compressor.distill(recipe, overrides=["train.epochs=1"], quiet=True)
    assert run.run_dir == tmp_path / "runs" / "tiny" and run.recipe.train.epochs == 1
    x = torch.rand(4, 1, 8, 8)
    assert run.student is not None and run.student(x).shape == (4, 10)
    assert set(run.teachers) == {"robust", "clean"}
    assert not any(p.requires_grad for p in run.teachers["robust"].parameters())
    assert run.evaluation is not None and "pgd20" in run.evaluation["robust_accuracy"]
    assert run.bundle is not None and (run.bundle / "model.onnx").is_file()
    assert run.report is not None and run.report.read_text().startswith("#")
    assert run.verification is not None and run.passed == run.verification["passed"]
    saved = json.loads((run.bundle / "manifest.json").read_text())
    assert saved["pytorch_metrics"]["clean_accuracy"] == pytest.approx(run.evaluation["clean_accuracy"])


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"train": {"epocks": 1}}, "unknown key 'train.epocks'"),
        ({"student": {"name": "resnet_nonexistent"}}, "unknown timm model"),
        ({"plugins": ["no_such_plugin_module"]}, "no_such_plugin_module"),
    ],
)
def test_a_dict_recipe_passes_the_same_checks_as_a_file(change, needle) -> None:
    recipe = {**copy.deepcopy(TINY_RECIPE), **change}
    with pytest.raises(UserInputError, match=needle):
        compressor.distill(recipe)


def test_shipped_recipe_by_name_is_checked() -> None:
    with pytest.raises(UserInputError, match="unknown key"):
        compressor.distill("quickstart", overrides=["train.epocks=1"])


def test_evaluate_any_module(digits_model) -> None:
    model, x, y = digits_model
    result = compressor.evaluate(model, x.numpy(), y.numpy(), attacks=["fgsm", "pgd20"], eps=0.1)
    assert set(result.robust_accuracy) == {"fgsm", "pgd20"}
    assert 0.5 < result.clean_accuracy <= 1
    assert result.worst_case_accuracy <= min(result.robust_accuracy.values()) <= result.clean_accuracy
    assert result.worst_case_accuracy < result.clean_accuracy  # an undefended model loses accuracy
    assert result.passed and {c.name for c in result.sanity_checks} >= {"gradients", "black_box_vs_white_box"}


@pytest.mark.parametrize(
    ("images", "labels", "needle"),
    [
        (torch.rand(4, 8, 8), torch.zeros(4, dtype=torch.long), r"\[N, C, H, W\]"),
        (torch.rand(4, 1, 8, 8) * 255, torch.zeros(4, dtype=torch.long), r"\[0, 1\]"),
        (torch.rand(4, 1, 8, 8), torch.zeros(3, dtype=torch.long), "4 integers"),
    ],
)
def test_evaluate_refuses_bad_batches_in_one_line(images, labels, needle) -> None:
    with pytest.raises(UserInputError, match=needle):
        compressor.evaluate(DigitsCNN(), images, labels)


def test_evaluate_refuses_unknown_attack() -> None:
    with pytest.raises(UserInputError, match="unknown attack"):
        compressor.evaluate(
            DigitsCNN(), torch.rand(2, 1, 8, 8), torch.zeros(2, dtype=torch.long), attacks=["pgd21x"]
        )


def test_export_any_module_checked_by_onnxruntime(digits_model, tmp_path) -> None:
    import onnxruntime as ort

    model, x, y = digits_model
    result = compressor.evaluate(model, x, y, attacks=["pgd20"], eps=0.1, sanity_checks=False)
    out = compressor.export(
        model,
        tmp_path / "bundle",
        images=x,
        labels=y,
        eps=0.1,
        evaluation=result,
        options=ExportOptions(formats=["fp32"], num_probes=16),
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["class_names"] == [str(k) for k in range(10)]
    assert manifest["pytorch_metrics"]["robust_accuracy"]["pgd20"] == pytest.approx(
        result.robust_accuracy["pgd20"]
    )
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    logits = session.run(None, {session.get_inputs()[0].name: x[:8].numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(logits, model(x[:8]).numpy(), atol=1e-4)


@pytest.mark.slow
def test_distill_your_own_modules(tmp_path, digits_model) -> None:
    teacher, x, y = digits_model
    torch.manual_seed(0)
    student = DigitsCNN(width=4)
    recipe = copy.deepcopy(TINY_RECIPE)
    recipe["run"]["output_dir"] = str(tmp_path / "runs")
    recipe["method"] = {"name": "kd", "teacher": "clean"}
    stages = ["teachers", "distill", "evaluate"]
    run = compressor.distill(recipe, stages=stages, quiet=True, student=student, teachers={"clean": teacher})
    assert run.recipe.student.name.startswith("module_") and run.recipe.teacher("clean").train is None
    with torch.no_grad():
        assert torch.equal(run.teachers["clean"](x), teacher(x))  # your teacher, as given, frozen
    assert type(run.student.net) is DigitsCNN and run.student.net.features[0].out_channels == 4
    assert not torch.equal(run.student.net.head.weight, student.head.weight)  # trained, on a copy
    assert run.evaluation is not None and run.evaluation["n"] == 64


def test_module_for_a_role_the_recipe_lacks_is_refused() -> None:
    with pytest.raises(UserInputError, match="no 'teacher' teacher"):
        compressor.distill(copy.deepcopy(TINY_RECIPE), teachers={"teacher": DigitsCNN()})
