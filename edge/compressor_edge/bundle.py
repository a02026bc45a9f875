"""The export bundle: file names, manifest schema, loading with hash and consistency checks."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from compressor_edge.errors import BundleError
from compressor_edge.files import sha256_file
from compressor_edge.manifest import (
    FORMAT_FILES,
    FORMATS,
    MANIFEST_FILE,
    NORMS,
    PROBES_FILE,
    SCHEMA_VERSION,
    bundle_file,
    check_manifest,
)

INT8_TENSORRT_FILE = "model.int8.tensorrt.onnx"  # the symmetric QDQ file, an alternate of the int8 format
MAX_MANIFEST_BYTES = 16 << 20
MAX_PROBES_BYTES = 2 << 30  # probes.npz unpacked (zip sizes are read, and enforced, before any array)
PROBE_KEYS = ("clean_images", "labels", "adversarial_images", "clean_logits", "adversarial_logits")
__all__ = [
    "FORMATS",
    "FORMAT_FILES",
    "INT8_TENSORRT_FILE",
    "MANIFEST_FILE",
    "NORMS",
    "PROBES_FILE",
    "SCHEMA_VERSION",
    "Bundle",
    "Probes",
    "load_bundle",
    "sha256_file",
]


@dataclass(frozen=True)
class Probes:
    """The fixed verification set: clean and adversarial images with PyTorch's logits for both."""

    clean_images: np.ndarray
    labels: np.ndarray
    adversarial_images: np.ndarray
    clean_logits: np.ndarray
    adversarial_logits: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass(frozen=True)
class Bundle:
    """A loaded, checked bundle folder."""

    root: Path
    manifest: dict[str, Any]

    @property
    def formats(self) -> tuple[str, ...]:
        return tuple(f for f in FORMATS if f in self.manifest["formats"])

    def model_entry(self, fmt: str, backend: str | None = None) -> Mapping[str, Any]:
        """The manifest entry of the file of `fmt` made for `backend` (any file of it when None).

        A format's entry may list the `runtimes` its file is for and `alternates` (other files of the same
        format, e.g. int8's symmetric QDQ file for TensorRT); an entry without `runtimes` serves every runtime.
        """
        if fmt not in self.manifest["formats"]:
            raise BundleError(f"{self.root}: bundle has no '{fmt}' model (it has {', '.join(self.formats)})")
        entry = self.manifest["formats"][fmt]
        if backend is None:
            return entry
        candidates = [entry, *entry.get("alternates", [])]
        for candidate in candidates:
            if "runtimes" not in candidate or backend in candidate["runtimes"]:
                return candidate
        served = sorted({r for c in candidates for r in c["runtimes"]})
        raise BundleError(
            f"{self.root}: bundle has no {fmt} file for {backend} (its {fmt} files serve {', '.join(served)}); "
            "re-export with that runtime as a target (export.tensorrt.enabled for tensorrt)"
        )

    def model_path(self, fmt: str, backend: str | None = None) -> Path:
        """Path of the ONNX file of `fmt` for `backend`; BundleError if the bundle has none."""
        return bundle_file(self.root, self.model_entry(fmt, backend)["file"], f"formats.{fmt}.file")

    def files(self, fmt: str) -> list[Path]:
        """Every ONNX file of one format (the main one first, then its alternates)."""
        entry = self.model_entry(fmt)
        return [
            bundle_file(self.root, e["file"], f"formats.{fmt}") for e in [entry, *entry.get("alternates", [])]
        ]

    @property
    def input_name(self) -> str:
        return str(self.manifest["input"]["name"])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one input image."""
        c, h, w = self.manifest["input"]["shape"][1:]
        return int(c), int(h), int(w)

    @property
    def class_names(self) -> list[str]:
        return list(self.manifest["class_names"])

    @property
    def eps(self) -> float:
        return float(self.manifest["threat_model"]["eps"])

    @property
    def norm(self) -> str:
        return str(self.manifest["threat_model"]["norm"])

    def probes(self) -> Probes:
        """Load probes.npz and check its arrays against the manifest."""
        path = bundle_file(self.root, self.manifest["probes"]["file"], "probes.file")
        try:
            data = np.load(path, allow_pickle=False, mmap_mode="r")  # an .npz is read lazily either way
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise BundleError(f"{path}: expected an .npz archive of the probe arrays")
            with data:
                _check_probe_sizes(data, path)
                arrays = {key: np.asarray(data[key]) for key in PROBE_KEYS}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
            raise BundleError(f"{path}: unreadable probes file ({type(err).__name__}: {err})") from None
        probes = Probes(**arrays)
        _check_probes(probes, self.image_shape, len(self.class_names), path)
        square = self.manifest.get("square") or {}
        beyond = [i for i in square.get("indices", []) if i >= len(probes)]
        if beyond:
            raise BundleError(
                f"{self.root / MANIFEST_FILE}: square.indices: probe {beyond[0]} does not exist "
                f"({path.name} holds {len(probes)} probes)"
            )
        return probes


def _check_probe_sizes(data: np.lib.npyio.NpzFile, path: Path) -> None:
    """Refuse a probes.npz whose arrays would unpack to more than MAX_PROBES_BYTES, before reading them."""
    archive = cast(zipfile.ZipFile, data.zip)  # None only once closed; called inside `with data`
    total = sum(int(archive.getinfo(f"{key}.npy").file_size) for key in PROBE_KEYS)
    if total > MAX_PROBES_BYTES:
        raise BundleError(
            f"{path}: its arrays unpack to {total} bytes, more than probes may ({MAX_PROBES_BYTES})"
        )


def _check_probes(probes: Probes, image_shape: tuple[int, ...], n_classes: int, path: Path) -> None:
    n = len(probes)
    expected = {
        "clean_images": (n, *image_shape),
        "adversarial_images": (n, *image_shape),
        "clean_logits": (n, n_classes),
        "adversarial_logits": (n, n_classes),
    }
    for key, shape in expected.items():
        actual = getattr(probes, key).shape
        if tuple(actual) != shape:
            raise BundleError(f"{path}: '{key}' has shape {tuple(actual)}, expected {shape}")
    if probes.labels.ndim != 1 or n == 0:
        raise BundleError(f"{path}: 'labels' must be a non-empty 1-D array")


def _read_manifest(root: Path) -> dict[str, Any]:
    """manifest.json, parsed and validated as a whole (containment of every named file included)."""
    path = root / MANIFEST_FILE
    if not root.is_dir():
        raise BundleError(f"{root}: not a bundle folder (it does not exist or is not a directory)")
    if not path.is_file():
        raise BundleError(f"{path}: missing; is {root} an export bundle?")
    bundle_file(root, MANIFEST_FILE, "the manifest itself")
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise BundleError(
            f"{path}: {path.stat().st_size} bytes, more than a manifest can be ({MAX_MANIFEST_BYTES})"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise BundleError(f"{path}: not valid JSON ({err})") from None
    return check_manifest(manifest, root)


def _check_file(path: Path, entry: Mapping[str, Any], what: str) -> None:
    """The file exists and its SHA-256 is the manifest's (`path` was checked to lie inside the bundle)."""
    if not path.is_file():
        raise BundleError(f"{path}: missing ({what} listed in {MANIFEST_FILE})")
    actual = sha256_file(path)
    if actual != entry["sha256"]:
        raise BundleError(
            f"{path}: sha256 mismatch (manifest {entry['sha256'][:12]}..., file {actual[:12]}...); "
            "the file was changed or corrupted after export"
        )


def _check_onnx(path: Path, input_name: str) -> None:
    import onnx

    try:
        onnx.checker.check_model(str(path))
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # onnx raises several unrelated types for a corrupt file
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise BundleError(f"{path}: not a valid ONNX model ({first})") from None
    names = [i.name for i in model.graph.input]
    if input_name not in names:
        raise BundleError(f"{path}: has inputs {names}, but the manifest names the input {input_name!r}")


def load_bundle(root: str | Path, *, check_hashes: bool = True) -> Bundle:
    """Read the manifest, check every listed file's SHA-256 and each ONNX model's validity."""
    root = Path(root)
    bundle = Bundle(root=root, manifest=_read_manifest(root))
    if check_hashes:
        for fmt in bundle.formats:
            entry = bundle.model_entry(fmt)
            for item, path in zip([entry, *entry.get("alternates", [])], bundle.files(fmt), strict=True):
                _check_file(path, item, f"{fmt} model")
        probes = bundle.manifest["probes"]
        _check_file(bundle_file(root, probes["file"], "probes.file"), probes, "probes")
    for fmt in bundle.formats:
        for path in bundle.files(fmt):
            _check_onnx(path, bundle.input_name)
    return bundle
