"""Safe checkpoint loading and atomic saving: pickles with code refused, containers unwrapped, clear errors."""

from __future__ import annotations

import argparse
import builtins
from pathlib import Path

import pytest
import timm
import torch

import compressor.models.catalog  # noqa: F401  (registers the zoo)
from compressor.errors import UserInputError
from compressor.models.weights import (
    load_into,
    load_robustbench_checkpoint,
    load_state_dict_file,
    save_state_dict_file,
)
from compressor.models.zoo.wide_resnet import wide_resnet


@pytest.fixture
def model() -> torch.nn.Module:
    return timm.create_model("tiny_cnn", in_chans=1)


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _one_line(err: pytest.ExceptionInfo[UserInputError]) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


def test_safetensors_round_trip_is_atomic(tmp_path: Path, model: torch.nn.Module) -> None:
    path = tmp_path / "sub" / "student.safetensors"
    save_state_dict_file(path, model.state_dict(), metadata={"arch": "tiny_cnn"})
    save_state_dict_file(path, model.state_dict())  # overwriting in place
    assert [p.name for p in path.parent.iterdir()] == ["student.safetensors"]
    assert _same(load_state_dict_file(path), model.state_dict())


def test_tied_weights_are_saved(tmp_path: Path) -> None:
    weight = torch.randn(4, 4)
    save_state_dict_file(tmp_path / "tied.bin", {"a": weight, "b": weight})
    loaded = load_state_dict_file(tmp_path / "tied.bin")  # recognised by content, not by name
    assert torch.equal(loaded["a"], loaded["b"])


def test_plain_state_dict_loads_weights_only(tmp_path: Path, model: torch.nn.Module) -> None:
    torch.save(model.state_dict(), tmp_path / "plain.pt")
    fresh = timm.create_model("tiny_cnn", in_chans=1)
    load_into(fresh, load_state_dict_file(tmp_path / "plain.pt"))
    assert _same(fresh.state_dict(), model.state_dict())


class _Payload:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return builtins.exec, (f"open({str(self.marker)!r}, 'w').close()",)


def test_pickle_with_code_is_refused_unless_trusted(tmp_path: Path, model: torch.nn.Module) -> None:
    marker = tmp_path / "ran"
    torch.save({"state_dict": model.state_dict(), "extra": _Payload(marker)}, tmp_path / "evil.pt")
    with pytest.raises(UserInputError) as err:
        load_state_dict_file(tmp_path / "evil.pt")
    assert "trust_pickle" in _one_line(err) and "evil.pt" in str(err.value)
    assert not marker.exists()
    state = load_state_dict_file(tmp_path / "evil.pt", trust_pickle=True)
    assert marker.exists()
    assert _same(state, model.state_dict())


def test_training_checkpoint_with_objects_needs_trust(tmp_path: Path, model: torch.nn.Module) -> None:
    torch.save({"model": model.state_dict(), "args": argparse.Namespace(lr=0.1)}, tmp_path / "run.pth")
    with pytest.raises(UserInputError, match="Namespace"):
        load_state_dict_file(tmp_path / "run.pth")
    assert _same(load_state_dict_file(tmp_path / "run.pth", trust_pickle=True), model.state_dict())


@pytest.mark.parametrize("container", [None, "state_dict", "model_state_dict", "model", "net"])
@pytest.mark.parametrize("prefix", ["", "module.", "model.", "_orig_mod.", "module._orig_mod."])
def test_containers_and_prefixes_are_unwrapped(
    tmp_path: Path, model: torch.nn.Module, container: str | None, prefix: str
) -> None:
    state = {prefix + k: v for k, v in model.state_dict().items()}
    torch.save(state if container is None else {container: state, "epoch": 7}, tmp_path / "ckpt.pt")
    assert _same(load_state_dict_file(tmp_path / "ckpt.pt"), model.state_dict())


def test_prefix_shared_by_only_some_keys_is_kept(tmp_path: Path) -> None:
    state = {"model.weight": torch.zeros(1), "mean": torch.zeros(1)}
    save_state_dict_file(tmp_path / "w.safetensors", state)
    assert set(load_state_dict_file(tmp_path / "w.safetensors")) == set(state)


def test_mismatched_keys_are_reported_in_one_line(model: torch.nn.Module) -> None:
    state = model.state_dict()
    state["classifier.weight"] = state.pop("fc.weight")
    with pytest.raises(UserInputError) as err:
        load_into(model, state, source="teacher.pt")
    message = _one_line(err)
    assert "teacher.pt" in message and "TinyCNN" in message
    assert "1 key missing (fc.weight)" in message and "1 key unexpected (classifier.weight)" in message
    load_into(model, state, strict=False)


def test_shape_mismatch_points_at_num_classes(model: torch.nn.Module) -> None:
    other = timm.create_model("tiny_cnn", in_chans=1, num_classes=3)
    with pytest.raises(UserInputError) as err:
        load_into(other, model.state_dict(), strict=False)
    assert "fc.weight (10, 128) vs (3, 128)" in _one_line(err) and "num_classes" in str(err.value)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "not found"),
        (b"definitely not a checkpoint", "not a readable"),
        (b"\x05\x00\x00\x00\x00\x00\x00\x00{broken", "damaged safetensors"),
    ],
)
def test_unreadable_files_give_one_line(tmp_path: Path, content: bytes | None, expected: str) -> None:
    path = tmp_path / "x.pt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserInputError, match=expected) as err:
        load_state_dict_file(path)
    _one_line(err)


def test_object_without_state_dict_is_refused(tmp_path: Path) -> None:
    torch.save({"epoch": 3, "optimizer": {"lr": 0.1}}, tmp_path / "opt.pt")
    with pytest.raises(UserInputError, match="holds no state dict .*epoch, optimizer"):
        load_state_dict_file(tmp_path / "opt.pt")


def test_robustbench_wideresnet_file_maps_into_ours(tmp_path: Path) -> None:
    ours = wide_resnet(16, 2)
    extra = {
        "sub_block1.layer.0.conv1.weight": torch.zeros(1),
        "mu": torch.zeros(1, 3, 1, 1),
        "sigma": torch.ones(1, 3, 1, 1),
    }
    state = {f"module.{k}": v for k, v in {**ours.state_dict(), **extra}.items()}
    torch.save({"state_dict": state}, tmp_path / "Zhang2019Theoretically.pt")
    fresh = wide_resnet(16, 2)
    load_into(fresh, load_robustbench_checkpoint(tmp_path / "Zhang2019Theoretically.pt", "wrn_34_10"))
    assert _same(fresh.state_dict(), ours.state_dict())


def test_robustbench_preact_variants(tmp_path: Path) -> None:
    wong = timm.create_model("preact_resnet18", shortcut_after_act=False, final_norm=False)
    torch.save({"last": wong.state_dict(), "best": wong.state_dict()}, tmp_path / "Kireev.pt")
    state = load_robustbench_checkpoint(tmp_path / "Kireev.pt", "preact_resnet18")
    load_into(timm.create_model("preact_resnet18", shortcut_after_act=False, final_norm=False), state)
    with pytest.raises(UserInputError, match="bn.weight"):
        load_into(timm.create_model("preact_resnet18"), state)


def test_robustbench_unsupported_files_and_archs(tmp_path: Path) -> None:
    torch.save({"init_conv.weight": torch.zeros(1), "logits.weight": torch.zeros(1)}, tmp_path / "dm.pt")
    with pytest.raises(UserInputError, match="DeepMind-style"):
        load_robustbench_checkpoint(tmp_path / "dm.pt", "wrn_28_10")
    with pytest.raises(UserInputError, match="not 'resnet56'"):
        load_robustbench_checkpoint(tmp_path / "dm.pt", "resnet56")


@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_a_plain_pickle_with_code_says_it_was_refused_and_how_to_opt_in(
    tmp_path: Path, protocol: int
) -> None:
    """A pickle.dump (not torch.save) carrying code: refused as such, never called damaged."""
    import pickle

    marker = tmp_path / "ran"
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"w": [1.0], "x": _Payload(marker)}, protocol=protocol))
    with pytest.raises(UserInputError) as err:
        load_state_dict_file(tmp_path / "evil.pkl")
    line = _one_line(err)
    assert "was refused" in line and "runs code" in line and "`trust_pickle: true`" in line
    assert "not a readable" not in line and not marker.exists()
