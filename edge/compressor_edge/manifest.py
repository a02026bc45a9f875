"""Manifest validation, before any file of the bundle is used: every field the kit reads has the type and range
it needs, and every file the manifest names lies inside the bundle folder (after symlinks).

A hostile or hand-edited manifest is bad input (BundleError, exit 2) naming the field's path, e.g.
`manifest.json: input.shape: expected [batch, C, H, W] integers, got '3x32x32'`, never an internal error later on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path, PurePath
from typing import Any, NoReturn

from compressor_edge.backends import BACKENDS
from compressor_edge.errors import BundleError

SCHEMA_VERSION = 1
MANIFEST_FILE = "manifest.json"
PROBES_FILE = "probes.npz"
FORMAT_FILES: dict[str, str] = {"fp32": "model.onnx", "fp16": "model.fp16.onnx", "int8": "model.int8.onnx"}
FORMATS: tuple[str, ...] = tuple(FORMAT_FILES)
NORMS = ("linf", "l2")
REQUIRED_KEYS = ("schema_version", "input", "output", "class_names", "threat_model", "formats", "probes")
MAX_IMAGE_VALUES = 1 << 26  # C * H * W of one input image (256 MiB as float32)
MAX_DIM = 65535
_NO_LIMIT = 2**63 - 1
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _show(value: Any) -> str:
    """A short excerpt of a manifest value for an error line."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class _Checker:
    """Checks one manifest; every failure is one line naming the manifest file and the field's path."""

    def __init__(self, manifest_path: Path) -> None:
        self.path = manifest_path

    def fail(self, where: str, message: str) -> NoReturn:
        raise BundleError(f"{self.path}: {where}: {message}")

    def expect(self, ok: bool, where: str, expected: str, value: Any) -> None:
        if not ok:
            self.fail(where, f"expected {expected}, got {_show(value)}")

    def obj(self, value: Any, where: str) -> Mapping[str, Any]:
        self.expect(isinstance(value, dict), where, "an object", value)
        return value

    def integer(self, value: Any, where: str, low: int, high: int = _NO_LIMIT) -> int:
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        bounds = f">= {low}" if high == _NO_LIMIT else f"in [{low}, {high}]"
        self.expect(ok, where, f"an integer {bounds}", value)
        return value

    def number(self, value: Any, where: str, low: float, high: float) -> float:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        self.expect(ok and low <= value <= high, where, f"a finite number in [{low:g}, {high:g}]", value)
        return float(value)

    def text(self, value: Any, where: str) -> str:
        self.expect(isinstance(value, str) and value != "", where, "a non-empty string", value)
        return value

    def list_of(self, value: Any, where: str, item: Callable[[Any, str], Any]) -> list[Any]:
        self.expect(isinstance(value, list), where, "a list", value)
        return [item(v, f"{where}[{i}]") for i, v in enumerate(value)]

    def optional(
        self, obj: Mapping[str, Any], key: str, where: str, check: Callable[[Any, str], Any]
    ) -> None:
        if obj.get(key) is not None:
            check(obj[key], f"{where}.{key}")


def bundle_file(root: Path, name: Any, where: str) -> Path:
    """`root / name` when `name` is a relative path that resolves (after symlinks) inside `root`.

    Checked before the file is opened, stat'ed or hashed; `where` names the manifest field for the error.
    """
    manifest = root / MANIFEST_FILE
    if not isinstance(name, str) or not name or "\x00" in name:
        raise BundleError(f"{manifest}: {where}: expected a file name inside the bundle, got {_show(name)}")
    if PurePath(name).is_absolute() or ".." in PurePath(name).parts:
        raise BundleError(
            f"{manifest}: {where}: {_show(name)} points outside the bundle; a manifest may only name files "
            "inside its own folder (a relative path without '..')"
        )
    path = root / name
    try:
        inside = path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError) as err:  # a symlink loop, or a path the system cannot resolve
        raise BundleError(f"{manifest}: {where}: {_show(name)} cannot be resolved ({err})") from None
    if not inside:
        raise BundleError(
            f"{manifest}: {where}: {_show(name)} is a symlink that leads outside the bundle; copy the file "
            "into the bundle instead"
        )
    return path


def check_manifest(manifest: Any, root: Path) -> dict[str, Any]:
    """Validate the whole manifest of the bundle in `root` (types, ranges, file containment) and return it."""
    check = _Checker(root / MANIFEST_FILE)
    top = dict(check.obj(manifest, "top level"))
    missing = [key for key in REQUIRED_KEYS if key not in top]
    if missing:
        raise BundleError(f"{check.path}: missing key(s) {', '.join(missing)}")
    version = top["schema_version"]
    if version != SCHEMA_VERSION or isinstance(version, bool):
        check.fail("schema_version", f"{_show(version)} is not supported (this kit reads {SCHEMA_VERSION})")
    image_values = _check_input(check, top["input"])
    n_classes = len(check.list_of(top["class_names"], "class_names", check.text))
    check.expect(n_classes >= 1, "class_names", "at least one name", top["class_names"])
    _check_output(check, top["output"], n_classes)
    _check_threat_model(check, top["threat_model"], image_values)
    _check_formats(check, top["formats"], root)
    _check_file_entry(check, top["probes"], "probes", root)
    if top.get("square") is not None:
        _check_square(check, top["square"])
    return top


def _check_input(check: _Checker, value: Any) -> int:
    """input.name and input.shape ([batch, C, H, W]); returns C * H * W."""
    entry = check.obj(value, "input")
    check.text(entry.get("name"), "input.name")
    shape: Any = entry.get("shape")
    ok = isinstance(shape, list) and len(shape) == 4 and all(_is_int(d) for d in shape[1:])
    check.expect(ok and isinstance(shape[0], str | int), "input.shape", "[batch, C, H, W] integers", shape)
    if not isinstance(shape[0], str):
        check.integer(shape[0], "input.shape[0]", 1)
    dims = [check.integer(d, f"input.shape[{i}]", 1, MAX_DIM) for i, d in enumerate(shape[1:], start=1)]
    values = math.prod(dims)
    if values > MAX_IMAGE_VALUES:
        check.fail(
            "input.shape", f"an image of {values} values is larger than this kit allows ({MAX_IMAGE_VALUES})"
        )
    return values


def _check_output(check: _Checker, value: Any, n_classes: int) -> None:
    entry = check.obj(value, "output")
    shape = entry.get("shape")
    if shape is None:
        return
    check.expect(isinstance(shape, list) and len(shape) == 2, "output.shape", "[batch, classes]", shape)
    if shape[1] != n_classes:
        check.fail("output.shape", f"{_show(shape[1])} logits, but class_names lists {n_classes} names")


def _check_threat_model(check: _Checker, value: Any, image_values: int) -> None:
    entry = check.obj(value, "threat_model")
    norm = entry.get("norm")
    if norm not in NORMS:
        check.fail("threat_model.norm", f"must be one of {', '.join(NORMS)}, got {_show(norm)}")
    # pixels lie in [0, 1]: an L-inf eps above 1 or an L2 eps above the image's diameter constrains nothing
    high = 1.0 if norm == "linf" else math.sqrt(image_values)
    check.number(entry.get("eps"), "threat_model.eps", 0.0, high)


def _check_formats(check: _Checker, value: Any, root: Path) -> None:
    formats = check.obj(value, "formats")
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        check.fail(
            "formats", f"must be a non-empty subset of {', '.join(FORMATS)}, got {_show(sorted(formats))}"
        )
    for fmt, raw in formats.items():
        entry = _check_model_entry(check, raw, f"formats.{fmt}", root)
        alternates = entry.get("alternates", [])
        check.list_of(
            alternates, f"formats.{fmt}.alternates", lambda v, w: _check_model_entry(check, v, w, root)
        )


def _check_model_entry(check: _Checker, value: Any, where: str, root: Path) -> Mapping[str, Any]:
    """One model file's entry: file, sha256, optional runtimes and quantization record."""
    entry = _check_file_entry(check, value, where, root)

    def runtime(name: Any, at: str) -> str:
        check.expect(name in BACKENDS, at, f"one of {', '.join(BACKENDS)}", name)
        return str(name)

    check.optional(entry, "runtimes", where, lambda v, w: check.list_of(v, w, runtime))
    check.optional(entry, "quantization", where, lambda v, w: _check_quantization(check, v, w))
    return entry


def _check_file_entry(check: _Checker, value: Any, where: str, root: Path) -> Mapping[str, Any]:
    entry = check.obj(value, where)
    bundle_file(root, entry.get("file"), f"{where}.file")
    digest = entry.get("sha256")
    ok = isinstance(digest, str) and _SHA256.fullmatch(digest) is not None
    check.expect(ok, f"{where}.sha256", "64 lowercase hex digits", digest)
    return entry


def _check_quantization(check: _Checker, value: Any, where: str) -> None:
    record = check.obj(value, where)
    check.optional(record, "float_nodes", where, lambda v, w: check.list_of(v, w, check.text))
    robust = record.get("robustness_aware")
    if robust is None:
        return
    robust = check.obj(robust, f"{where}.robustness_aware")
    if "robust_acc" not in robust:  # the report shows the gate only when the search recorded its result
        return
    for key in ("fp32_robust_acc", "plain_int8_robust_acc", "robust_acc", "max_drop"):
        check.number(robust.get(key), f"{where}.robustness_aware.{key}", 0.0, 1.0)
    gate = robust.get("gate_met")
    check.expect(isinstance(gate, bool), f"{where}.robustness_aware.gate_met", "true or false", gate)
    check.optional(
        robust, "max_float_layers", f"{where}.robustness_aware", lambda v, w: check.integer(v, w, 0)
    )


def _check_square(check: _Checker, value: Any) -> None:
    """The export's Square record (probe indices are checked against probes.npz when it is loaded)."""
    record = check.obj(value, "square")
    check.integer(record.get("queries"), "square.queries", 1)
    check.integer(record.get("seed"), "square.seed", 0)
    check.number(record.get("pytorch_square_acc"), "square.pytorch_square_acc", 0.0, 1.0)
    indices = check.list_of(record.get("indices"), "square.indices", lambda v, w: check.integer(v, w, 0))
    check.expect(bool(indices), "square.indices", "at least one probe index", indices)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
