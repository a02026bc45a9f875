"""Write the torch-free parts of a bundle (probes.npz, manifest.json), so writer and reader share one schema."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from compressor_edge.bundle import (
    FORMAT_FILES,
    MANIFEST_FILE,
    PROBES_FILE,
    SCHEMA_VERSION,
    Probes,
    sha256_file,
)

INPUT_NAME, OUTPUT_NAME = "input", "logits"


def write_probes(root: Path, probes: Probes) -> Path:
    """Save the probe arrays (uncompressed npz, float32 images and logits, int64 labels)."""
    path = root / PROBES_FILE
    np.savez(
        path,
        clean_images=np.asarray(probes.clean_images, dtype=np.float32),
        labels=np.asarray(probes.labels, dtype=np.int64),
        adversarial_images=np.asarray(probes.adversarial_images, dtype=np.float32),
        clean_logits=np.asarray(probes.clean_logits, dtype=np.float32),
        adversarial_logits=np.asarray(probes.adversarial_logits, dtype=np.float32),
    )
    return path


def _file_entry(root: Path, name: str) -> dict[str, Any]:
    path = root / name
    return {"file": name, "sha256": sha256_file(path), "bytes": path.stat().st_size}


def _format_entry(root: Path, name: str, meta: Mapping[str, Any]) -> dict[str, Any]:
    """File entry plus metadata; `alternates` (each with its own `file`) get their hashes too."""
    entry = {**_file_entry(root, name), **{k: v for k, v in meta.items() if k != "alternates"}}
    if "alternates" in meta:
        entry["alternates"] = [_format_entry(root, alt["file"], alt) for alt in meta["alternates"]]
    return entry


def make_manifest(
    root: Path,
    *,
    image_shape: Sequence[int],
    class_names: Sequence[str],
    eps: float,
    norm: str,
    formats: Mapping[str, Mapping[str, Any]],
    probes: Probes,
    dynamic_batch: bool = True,
    fields: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest of the files already in `root`; `formats` maps each format to its extra metadata."""
    labels = np.asarray(probes.labels)
    manifest: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "input": {
            "name": INPUT_NAME,
            "shape": ["batch" if dynamic_batch else 1, *[int(d) for d in image_shape]],
            "dtype": "float32",
            "range": [0.0, 1.0],
            "layout": "NCHW",
            "color": "RGB"
            if int(image_shape[0]) == 3
            else ("grayscale" if int(image_shape[0]) == 1 else "other"),
            "normalization": "inside the model (feed raw pixels / 255)",
        },
        "output": {
            "name": OUTPUT_NAME,
            "shape": ["batch" if dynamic_batch else 1, len(class_names)],
            "dtype": "float32",
            "meaning": "logits (apply softmax for probabilities)",
        },
        "class_names": list(class_names),
        "threat_model": {"eps": float(eps), "norm": norm},
        "formats": {fmt: _format_entry(root, FORMAT_FILES[fmt], meta) for fmt, meta in formats.items()},
        "probes": {
            **_file_entry(root, PROBES_FILE),
            "count": int(labels.shape[0]),
            "pytorch_clean_acc": float((probes.clean_logits.argmax(1) == labels).mean()),
            "pytorch_adv_acc": float((probes.adversarial_logits.argmax(1) == labels).mean()),
        },
    }
    manifest.update(dict(fields or {}))
    return manifest


def write_manifest(root: Path, manifest: Mapping[str, Any]) -> Path:
    """Write manifest.json (sorted keys, indented) into `root`."""
    path = root / MANIFEST_FILE
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return path
