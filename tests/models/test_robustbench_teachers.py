"""RobustBench zoo names as teachers: resolved to our architecture and to RobustBench's own file layout.

The files hold random weights saved as RobustBench's networks would save them (DataParallel prefix,
normalisation buffers), under <model_dir>/<dataset>/<threat_model>/<name>.pt; nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch
from typer.testing import CliRunner

import compressor.models.catalog  # noqa: F401  (registers the zoo architectures)
from compressor.cli.main import app
from compressor.config.schema import ModelSpec
from compressor.errors import UserInputError
from compressor.models import create_classifier
from compressor.models.robustbench import CIFAR10_MEAN, KNOWN

PLAIN_PREACT = {"shortcut_after_act": False, "final_norm": False}  # RobustBench's PreActResNet


def _save_release(model_dir: Path, name: str, *, normalise: bool) -> dict[str, torch.Tensor]:
    """Random weights for `name` saved in RobustBench's layout; returns the network's own state dict."""
    torch.manual_seed(0)
    net = timm.create_model("preact_resnet18", num_classes=10, **PLAIN_PREACT)
    state = net.state_dict()
    saved = {f"module.{k}": v for k, v in state.items()}  # trained under DataParallel
    if normalise:
        saved["module.mu"] = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
        saved["module.sigma"] = torch.ones(1, 3, 1, 1)
    path = model_dir / "cifar10" / "Linf" / f"{name}.pt"
    path.parent.mkdir(parents=True)
    torch.save(saved, path)
    return state


def _spec(name: str, model_dir: Path) -> ModelSpec:
    return ModelSpec(
        source="robustbench", name=name, dataset="cifar10", threat_model="Linf", model_dir=model_dir
    )


@pytest.mark.parametrize(
    ("name", "mean"), [("Andriushchenko2020Understanding", [0.0] * 3), ("Wong2020Fast", list(CIFAR10_MEAN))]
)
def test_zoo_name_loads_the_file_from_robustbench_layout(tmp_path, name, mean) -> None:
    state = _save_release(tmp_path / "models", name, normalise=name == "Wong2020Fast")
    model = create_classifier(_spec(name, tmp_path / "models"), num_classes=10, in_chans=3)
    assert type(model.net).__name__ == "PreActResNet" and model.net.bn is None
    own = model.net.state_dict()
    assert own.keys() == state.keys() and all(torch.equal(own[k], v) for k, v in state.items())
    assert model.mean.flatten().tolist() == pytest.approx(mean)  # RobustBench's normalisation, inside ours


def test_missing_file_names_it_and_the_fetch_command(tmp_path) -> None:
    with pytest.raises(UserInputError) as err:
        create_classifier(_spec("Carmon2019Unlabeled", tmp_path / "models"), num_classes=10, in_chans=3)
    message = str(err.value)
    assert str(tmp_path / "models" / "cifar10" / "Linf" / "Carmon2019Unlabeled.pt") in message
    assert "load_model('Carmon2019Unlabeled', dataset='cifar10', threat_model='Linf'" in message


@pytest.mark.parametrize(
    ("name", "needle"),
    [("Wang2023Better_WRN-28-10", "DeepMind-style"), ("Nobody2099Robust", "known cifar10/Linf entries: ")],
)
def test_unmapped_entries_are_refused_with_the_known_ones(tmp_path, name, needle) -> None:
    with pytest.raises(UserInputError, match=needle) as err:
        create_classifier(_spec(name, tmp_path), num_classes=10, in_chans=3)
    assert "Carmon2019Unlabeled" in str(err.value)


def test_every_known_entry_names_a_registered_architecture() -> None:
    archs = {entry.arch for entries in KNOWN.values() for entry in entries.values()}
    assert archs <= {"preact_resnet18", "cifar_resnet18", "wrn_28_10", "wrn_34_10"}
    assert all(timm.is_model(arch) for arch in archs)


def test_dataset_is_required_and_only_for_robustbench() -> None:
    with pytest.raises(ValueError, match="needs `dataset:`"):
        ModelSpec(source="robustbench", name="Wong2020Fast")
    with pytest.raises(ValueError, match="only for source: robustbench"):
        ModelSpec(name="tiny_cnn", dataset="cifar10")


def _recipe(tiny_recipe, model_dir: Path) -> Path:
    teacher = {
        "source": "robustbench",
        "name": "Wong2020Fast",
        "dataset": "cifar10",
        "model_dir": str(model_dir),
    }
    return tiny_recipe(
        teachers=[{"role": "robust", "model": teacher}],
        method={"name": "ard"},
        data={"dataset": "synthetic", "synthetic": {"image_size": 32, "channels": 3}},
    )


def test_validate_checks_the_robustbench_file(tiny_recipe, tmp_path) -> None:
    runner = CliRunner()
    recipe = _recipe(tiny_recipe, tmp_path / "models")
    missing = runner.invoke(app, ["validate", str(recipe)])
    assert missing.exit_code == 2 and "Wong2020Fast.pt not found" in missing.output
    assert "teachers.0.model" in missing.output
    _save_release(tmp_path / "models", "Wong2020Fast", normalise=True)
    found = runner.invoke(app, ["validate", str(recipe)])
    assert found.exit_code == 0, found.output
