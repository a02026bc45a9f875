"""Where and how a number was measured: device, library versions, threads, and a device-synchronised timer."""

from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import torch

T = TypeVar("T")


def timed_call(fn: Callable[[], T], device: torch.device) -> tuple[T, float]:
    """``fn()`` and its wall-clock seconds, with the GPU synchronised before and after (a no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return out, time.perf_counter() - start


def device_name(device: torch.device) -> str:
    """A readable device name: the GPU model on CUDA, the processor otherwise."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"{device.type} ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def environment(device: torch.device, packages: tuple[str, ...] = ("torch",)) -> dict[str, Any]:
    """Device, Python and package versions (those not installed are left out)."""
    versions = {}
    for name in ("compressor", *packages):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            if name == "compressor":
                from compressor._version import __version__

                versions[name] = __version__
    return {"device": device_name(device), "python": sys.version.split()[0], **versions}


def append_jsonl(path: str | Path, record: dict[str, Any]) -> None:
    """Append one JSON record as a line (results files are logs: earlier lines are never touched)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
