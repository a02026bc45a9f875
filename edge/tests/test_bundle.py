"""Bundle loading: hashes, missing and corrupt files, schema checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from compressor_edge import BundleError, load_bundle, sha256_file
from compressor_edge.bundle import MANIFEST_FILE, PROBES_FILE


def _edit_manifest(root: Path, edit) -> None:
    path = root / MANIFEST_FILE
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


def test_good_bundle_loads_with_its_spec(good_bundle: Path) -> None:
    bundle = load_bundle(good_bundle)
    assert bundle.formats == ("fp32", "fp16", "int8")
    assert bundle.image_shape == (3, 8, 8)
    assert bundle.class_names == ["cat", "dog", "ship", "frog"]
    assert bundle.norm == "linf" and bundle.eps == pytest.approx(0.04)
    probes = bundle.probes()
    assert probes.clean_images.dtype == np.float32 and probes.labels.dtype == np.int64
    assert probes.clean_logits.shape == (len(probes), 4)
    manifest = bundle.manifest
    assert manifest["input"]["shape"] == ["batch", 3, 8, 8]
    assert manifest["probes"]["pytorch_clean_acc"] == 1.0
    for fmt in bundle.formats:
        entry = manifest["formats"][fmt]
        assert entry["sha256"] == sha256_file(bundle.model_path(fmt))
        assert entry["bytes"] == bundle.model_path(fmt).stat().st_size


def test_changed_model_file_is_a_hash_mismatch(bundle_copy) -> None:
    root = bundle_copy()
    path = root / "model.int8.onnx"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="sha256 mismatch"):
        load_bundle(root)


def test_missing_model_file(bundle_copy) -> None:
    root = bundle_copy()
    (root / "model.fp16.onnx").unlink()
    with pytest.raises(BundleError, match="model.fp16.onnx: missing"):
        load_bundle(root)


def test_corrupt_onnx_with_matching_hash_is_rejected(bundle_copy) -> None:
    root = bundle_copy()
    path = root / "model.onnx"
    path.write_bytes(b"this is not a protobuf" * 10)
    _edit_manifest(root, lambda m: m["formats"]["fp32"].update(sha256=sha256_file(path)))
    with pytest.raises(BundleError, match="not a valid ONNX model"):
        load_bundle(root)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m.update(schema_version=99), "schema_version: 99"),
        (lambda m: m["threat_model"].update(norm="l1"), "threat_model.norm"),
        (lambda m: m["threat_model"].update(eps=-1), "threat_model.eps"),
        (lambda m: m.pop("probes"), "missing key"),
        (lambda m: m["formats"].update(bf16={}), "formats: must be"),
    ],
)
def test_inconsistent_manifest(bundle_copy, edit, message: str) -> None:
    root = bundle_copy()
    _edit_manifest(root, edit)
    with pytest.raises(BundleError, match=message):
        load_bundle(root)


def test_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="not a bundle folder"):
        load_bundle(tmp_path / "nope")
    with pytest.raises(BundleError, match="manifest.json: missing"):
        load_bundle(tmp_path)
    (tmp_path / MANIFEST_FILE).write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        load_bundle(tmp_path)


def test_probes_with_wrong_shape_are_rejected(bundle_copy) -> None:
    root = bundle_copy()
    with np.load(root / PROBES_FILE) as data:
        arrays = dict(data)
    arrays["clean_logits"] = arrays["clean_logits"][:, :3]
    np.savez(root / PROBES_FILE, **arrays)
    _edit_manifest(root, lambda m: m["probes"].update(sha256=sha256_file(root / PROBES_FILE)))
    with pytest.raises(BundleError, match="'clean_logits' has shape"):
        load_bundle(root).probes()


def test_model_path_of_absent_format(tmp_path: Path) -> None:
    from tiny_bundles import make_bundle

    bundle = load_bundle(make_bundle(tmp_path / "b", formats=("fp32",)))
    assert bundle.formats == ("fp32",)
    with pytest.raises(BundleError, match="no 'int8' model"):
        bundle.model_path("int8")
