"""Pretrained and hf-hub: models through timm's and open_clip's own Hub code, from a hand-written offline cache.

The cache holds random weights in huggingface_hub's exact layout (tests/models/hub_cache.py); nothing here
touches the network: every load runs with HF_HUB_OFFLINE set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import huggingface_hub
import numpy as np
import pytest
import timm
import torch
import yaml
from hub_cache import json_file, timm_repo_files, weights_file, write_repo
from safetensors.torch import load_file

from compressor.config.schema import ModelSpec
from compressor.errors import UserInputError
from compressor.models import create_classifier
from tests.conftest import TINY_RECIPE

TIMM_NAME = "test_resnet.r160_in1k"  # timm's smallest pretrained ResNet (0.47M parameters)
REPO = f"timm/{TIMM_NAME}"
HUB_MEAN, HUB_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]  # the repo's config.json, not timm's 0.5


@pytest.fixture(scope="module")
def released() -> torch.nn.Module:
    """The 'released' network: random weights standing in for the Hub's (1000 classes, 3 channels)."""
    torch.manual_seed(0)
    return timm.create_model(TIMM_NAME, num_classes=1000)


@pytest.fixture
def hf_home(tmp_path, released, monkeypatch) -> Path:
    """A Hugging Face cache holding the repo, and this process pointed at it, offline."""
    home = tmp_path / "hf"
    write_repo(home, REPO, timm_repo_files(released, HUB_MEAN, HUB_STD))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(home / "hub"))
    return home


@pytest.mark.parametrize(
    ("name", "mean", "std"), [(TIMM_NAME, [0.5] * 3, [0.5] * 3), (f"hf-hub:{REPO}", HUB_MEAN, HUB_STD)]
)
def test_pretrained_weights_come_through_timms_hub_code(hf_home, released, name, mean, std) -> None:
    model = create_classifier(ModelSpec(name=name, pretrained=True), num_classes=7, in_chans=3)
    own, theirs = model.net.state_dict(), released.state_dict()
    body = [k for k in theirs if not k.startswith("fc.")]
    assert all(torch.equal(own[k], theirs[k]) for k in body)  # the cached file, not a random init
    assert model.net.fc.out_features == 7  # head resized to the data's classes
    assert model.mean.flatten().tolist() == pytest.approx(
        mean
    ) and model.std.flatten().tolist() == pytest.approx(std)


def test_missing_cache_names_repo_file_and_command(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    with pytest.raises(UserInputError) as err:
        create_classifier(ModelSpec(name=TIMM_NAME, pretrained=True), num_classes=10, in_chans=3)
    message = str(err.value)
    assert "\n" not in message and REPO in message and "model.safetensors" in message
    assert f"hf download {REPO} model.safetensors" in message and "offline" in message


@pytest.mark.parametrize("name", ["hf-hub:timm/resnet18.a1_in1k", "hf-hub:my-lab/robust-teacher@v1.2"])
def test_hub_names_pass_the_name_check(name) -> None:
    from compressor.models import check_model_name

    check_model_name(ModelSpec(name=name))


def test_malformed_hub_name_is_refused() -> None:
    from compressor.models import check_model_name

    with pytest.raises(UserInputError, match="hf-hub:ORG/REPO"):
        check_model_name(ModelSpec(name="hf-hub:resnet18"))


def _recipe(tmp_path: Path) -> Path:
    """The tiny recipe with a pretrained timm teacher and an hf-hub: pretrained student, distilled with KD."""
    data = yaml.safe_load(yaml.safe_dump(TINY_RECIPE))
    data["run"]["output_dir"] = str(tmp_path / "runs")
    data["teachers"] = [{"role": "clean", "model": {"name": TIMM_NAME, "pretrained": True}}]
    data["student"] = {"name": f"hf-hub:{REPO}", "pretrained": True}
    data["method"] = {"name": "kd", "teacher": "clean"}
    data["train"]["epochs"] = 1
    data["train"]["max_steps_per_epoch"] = 2
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _cli(tmp_path: Path, *args: str, hf_home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "compressor.cli.main", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)


def _onnx_constants(path: Path) -> list[np.ndarray]:
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    found = [numpy_helper.to_array(t) for t in graph.initializer]
    for node in graph.node:
        found += [numpy_helper.to_array(a.t) for a in node.attribute if a.type == onnx.AttributeProto.TENSOR]
    return found


@pytest.mark.slow
def test_pretrained_hub_models_run_end_to_end_offline(tmp_path, released) -> None:
    home = tmp_path / "hf"
    write_repo(home, REPO, timm_repo_files(released, HUB_MEAN, HUB_STD))
    recipe = _recipe(tmp_path)
    done = _cli(
        tmp_path, "distill", str(recipe), "--stages", "teachers,distill,evaluate,export", hf_home=home
    )
    assert done.returncode == 0, done.stdout + done.stderr
    run = tmp_path / "runs" / "tiny"
    student = load_file(str(run / "distill" / "best.safetensors"))
    # digits are grey: the RGB-pretrained network keeps its three channels and the hub's per-channel
    # normalisation; the grey image is copied to RGB inside the model, so the bundle takes one channel
    assert student["mean"].flatten().tolist() == pytest.approx(HUB_MEAN)
    assert student["std"].flatten().tolist() == pytest.approx(HUB_STD)
    assert student["net.fc.weight"].shape[0] == 10
    teacher = load_file(str(run / "teachers" / "clean.safetensors"))
    assert teacher["mean"].flatten().tolist() == pytest.approx([0.5] * 3)  # timm's own config, plain name
    constants = _onnx_constants(run / "export" / "bundle" / "model.onnx")
    assert any(c.size == 3 and np.allclose(c.flatten(), HUB_MEAN, atol=1e-6) for c in constants)
    manifest = json.loads((run / "export" / "bundle" / "manifest.json").read_text())
    assert manifest["input"]["shape"][1] == 1


def test_offline_without_cache_is_one_line_exit_2(tmp_path) -> None:
    recipe = _recipe(tmp_path)
    done = _cli(tmp_path, "distill", str(recipe), hf_home=tmp_path / "empty")
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in lines[0]
    assert REPO in lines[0] and "hf download" in lines[0] and "config.json" in lines[0]
    checked = _cli(
        tmp_path, "validate", str(recipe), hf_home=tmp_path / "empty"
    )  # may run elsewhere: a warning
    assert checked.returncode == 0 and "hf download" in checked.stdout + checked.stderr


def _tiny_clip_files() -> tuple[dict[str, bytes], torch.nn.Module]:
    import open_clip

    from compressor.models.clip_tiny import CONFIG_DIR

    model_cfg = json.loads((CONFIG_DIR / "compressor-tiny-vit.json").read_text())
    torch.manual_seed(1)
    clip = open_clip.create_model("compressor-tiny-vit")
    config = {"model_cfg": model_cfg, "preprocess_cfg": {"mean": [0.25, 0.5, 0.75], "std": [0.2, 0.3, 0.4]}}
    return {
        "open_clip_config.json": json_file(config),
        "open_clip_model.safetensors": weights_file(clip),
    }, clip


def test_open_clip_hub_model_loads_from_the_cache(tmp_path, monkeypatch) -> None:
    from compressor.models.clip import build_clip_classifier

    files, released_clip = _tiny_clip_files()
    write_repo(tmp_path / "hf", "my-lab/tiny-clip", files)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    spec = ModelSpec(source="open_clip", name="hf-hub:my-lab/tiny-clip")
    model = build_clip_classifier(spec, ["cat", "dog"])
    theirs = released_clip.visual.state_dict()
    assert all(torch.equal(v, theirs[k]) for k, v in model.visual.state_dict().items())
    assert model.mean.flatten().tolist() == pytest.approx([0.25, 0.5, 0.75])


def test_open_clip_hub_weights_missing_is_an_error_not_random_init(tmp_path, monkeypatch) -> None:
    from compressor.models.clip import build_clip_classifier

    files, _ = _tiny_clip_files()
    del files["open_clip_model.safetensors"]  # open_clip itself would only log this and go on untrained
    write_repo(tmp_path / "hf", "my-lab/tiny-clip", files)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    with pytest.raises(
        UserInputError, match="open_clip_model.safetensors from the Hugging Face Hub repo my-lab/tiny-clip"
    ):
        build_clip_classifier(ModelSpec(source="open_clip", name="hf-hub:my-lab/tiny-clip"), ["cat", "dog"])
