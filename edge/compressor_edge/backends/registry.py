"""The runtime backends by name. Each backend module of this package registers a BackendSpec: its name, the
packages it imports (probed without importing them), how to install them, the formats it runs, which int8
file it takes, and how to load a model. The CLI's choices and help, the install hints of every "not
available" error, manifest checks and the int8 files' `runtimes` all derive from here, so adding a backend
is one module in compressor_edge/backends/ that calls `register`.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import os
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from compressor_edge.backends.base import Backend
from compressor_edge.errors import BackendUnavailable, BundleError


@dataclass(frozen=True)
class LoadOptions:
    """What a caller may ask of any backend; each uses the parts it understands."""

    batch_sizes: Sequence[int] = (1, 32)  # latency batches (TensorRT and OpenVINO build one shape per size)
    cache_dir: Path | None = None  # compiled engines (TensorRT)
    threads: int | None = None  # intra-op threads (onnxruntime, OpenVINO)


@dataclass(frozen=True)
class BackendSpec:
    """One runtime backend as the rest of the kit sees it."""

    name: str
    runtime: str  # the product, for messages ("TensorRT is not installed")
    summary: str  # in words, for help texts
    packages: tuple[str, ...]  # modules it imports; probed with importlib.util.find_spec
    install: str  # how to get them, shown when one is missing
    load: Callable[[Path, LoadOptions], Backend]
    formats: tuple[str, ...] = ("fp32", "fp16", "int8")
    int8_target: str = "cpu"  # the int8 file it runs: a convert.INT8_TARGETS key ("cpu" or "tensorrt")
    # what it computes in when that is not the file's own precision ("bf16": the fp32 file run in bf16);
    # its rows are judged by the tolerances of that name
    precision: str | None = None
    # the backend that computes the same files exactly (openvino-cpu for its bf16 twin): its fp32 row is
    # the speed reference of this one's rows
    exact_runtime: str | None = None

    def tolerances_name(self, fmt: str) -> str:
        """Which tolerance set judges this backend's rows of format `fmt`."""
        return self.precision or fmt

    def missing_packages(self) -> list[str]:
        """The packages of `packages` that are not installed here."""
        return [package for package in self.packages if not _importable(package)]

    def require(self) -> None:
        """BackendUnavailable, with the install hint, when a package it needs is missing."""
        missing = self.missing_packages()
        if missing:
            raise BackendUnavailable(
                f"{self.name} backend: {self.runtime} is not installed (no {', '.join(missing)}); {self.install}"
            )


_SPECS: dict[str, BackendSpec] = {}
_discovered = False


def register(spec: BackendSpec) -> BackendSpec:
    """Add a backend (called once by its module at import); returns the spec for the module to keep."""
    if spec.name in _SPECS and _SPECS[spec.name] != spec:
        raise ValueError(f"backend {spec.name!r} is registered twice")
    _SPECS[spec.name] = spec
    return spec


def backend_specs() -> dict[str, BackendSpec]:
    """Every registered backend by name, sorted, after importing each module of this package once."""
    global _discovered
    if not _discovered:
        package = importlib.import_module("compressor_edge.backends")
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{module.name}")
        _discovered = True
    return dict(sorted(_SPECS.items()))


def backend_spec(name: str) -> BackendSpec:
    """The spec of backend `name`; BundleError (bad input) listing the known ones otherwise."""
    specs = backend_specs()
    if name not in specs:
        close = difflib.get_close_matches(name, list(specs), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise BundleError(f"unknown backend {name!r} (expected one of: {', '.join(specs)}){hint}")
    return specs[name]


def backends_help() -> str:
    """One line per backend for --help: name, what it is, and the install hint where it is missing here."""
    lines = []
    for spec in backend_specs().values():
        hint = f" [not installed: {spec.install}]" if spec.missing_packages() else ""
        lines.append(f"{spec.name}: {spec.summary}{hint}")
    return "; ".join(lines)


def _importable(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # a dotted name whose parent package is missing or broken
        return False


def create_backend(
    name: str,
    onnx_path: Path,
    *,
    batch_sizes: Sequence[int] = (1, 32),
    cache_dir: Path | None = None,
    threads: int | None = None,
) -> Backend:
    """Load `onnx_path` on backend `name`; TensorRT builds (or reuses from `cache_dir`) an engine.

    `threads` None: $OMP_NUM_THREADS where it is set (the CPU runtimes keep their own thread pools and do not
    read it, so a process limited to N threads would otherwise run them on every core), else the runtime's
    default."""
    spec = backend_spec(name)
    spec.require()
    return spec.load(onnx_path, LoadOptions(tuple(batch_sizes), cache_dir, threads or env_threads()))


def env_threads() -> int | None:
    """$OMP_NUM_THREADS as a positive int, or None when unset or not one."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None
