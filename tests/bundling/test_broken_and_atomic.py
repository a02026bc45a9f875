"""A broken export must fail (at export time or in verify), and a failed export never harms an earlier bundle."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from bundling_helpers import sha_tree, with_images, with_options
from compressor_edge import VerifyOptions, sha256_file, verify_bundle
from torch import Tensor, nn

from compressor.bundling import ExportFailed, export_bundle, export_onnx
from compressor.errors import UserInputError


class NormalisedTwice(nn.Module):
    """The classic deployment bug: the wrapper normalises, and so does the 'preprocessing' baked in again."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model((x - self.model.mean) / self.model.std)


class DiffersWhenExported(nn.Module):
    """Computes one thing in eager mode and another while torch.onnx traces it: a silent exporter bug."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        if torch.onnx.is_in_onnx_export():
            x = (x - self.model.mean) / self.model.std
        return self.model(x)


def test_double_normalisation_fails_verify(
    cnn_bundle: Path, trained_cnn, bundle_args: dict[str, Any], tmp_path
) -> None:
    bundle = Path(shutil.copytree(cnn_bundle, tmp_path / "broken"))
    path = bundle / "model.onnx"
    export_onnx(NormalisedTwice(trained_cnn).eval(), path, bundle_args["images"].probe_images[:2])
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["formats"] = {"fp32": {**manifest["formats"]["fp32"], "sha256": sha256_file(path)}}
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    report = verify_bundle(
        bundle, options=VerifyOptions(square_queries=50, latency_runs=3, batch_sizes=(1, 8))
    )
    print("\n" + report.to_markdown())
    assert not report.passed
    failures = " ".join(report.results[0].failures)
    assert "max_abs_logit_diff" in failures and "min_top1_agreement" in failures


def test_export_that_differs_from_pytorch_is_refused(
    tmp_path: Path, trained_cnn, bundle_args: dict[str, Any]
) -> None:
    with pytest.raises(ExportFailed, match="ONNX logits differ from PyTorch") as info:
        export_bundle(
            DiffersWhenExported(trained_cnn).eval(),
            tmp_path / "bad",
            **with_options(bundle_args, formats=("fp32",)),
        )
    assert "\n" not in str(info.value) and info.value.exit_code == 3
    assert list(tmp_path.iterdir()) == []  # no bundle, no staging folder left behind


def test_failed_export_leaves_the_earlier_bundle_intact(
    cnn_bundle: Path, trained_cnn, bundle_args: dict[str, Any], tmp_path: Path
) -> None:
    target = Path(shutil.copytree(cnn_bundle, tmp_path / "bundle"))
    before = sha_tree(target)
    with pytest.raises(ExportFailed):
        export_bundle(DiffersWhenExported(trained_cnn).eval(), target, **bundle_args)
    with pytest.raises(UserInputError):
        export_bundle(trained_cnn, target, **with_images(bundle_args, calibration_images=None))
    assert sha_tree(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]
    report = verify_bundle(
        target, formats=["fp32"], options=VerifyOptions(skip_square=True, latency_runs=2, batch_sizes=(1,))
    )
    assert report.gates_passed


def test_successful_export_replaces_the_earlier_bundle(
    cnn_bundle: Path, trained_cnn, bundle_args: dict[str, Any], tmp_path: Path
) -> None:
    target = Path(shutil.copytree(cnn_bundle, tmp_path / "bundle"))
    export_bundle(
        trained_cnn, target, **with_options(bundle_args, formats=("fp32",)), extra_manifest={"run": "second"}
    )
    assert sorted(p.name for p in target.iterdir()) == ["manifest.json", "model.onnx", "probes.npz"]
    assert json.loads((target / "manifest.json").read_text())["extra"] == {"run": "second"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]


def test_refuses_to_replace_a_folder_that_is_not_a_bundle(tmp_path: Path, trained_cnn, bundle_args) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    with pytest.raises(UserInputError, match="not an export bundle"):
        export_bundle(trained_cnn, tmp_path / "notes", **with_options(bundle_args, formats=("fp32",)))
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep me"
