"""What every benchmark record starts with (what ran, when, on which CPU) and how it is appended. Torch-free.

Scripts in this folder import it as a sibling module (`from records import ...`), like export_gates.
"""

from __future__ import annotations

import datetime
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from compressor_edge.machine import cpu_info, describe_cpu


def record_header(bench: str, argv: Sequence[str] | None = None, **device: Any) -> dict[str, Any]:
    """`bench`, UTC time, the command line and the device (CPU model, ISA flags, load; extra `device` keys)."""
    cpu = cpu_info()
    return {
        "bench": bench,
        "utc": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "device": {
            "cpu": cpu["model"],
            "cpu_described": describe_cpu(cpu),
            "cpu_isa": cpu["isa"],
            "cpu_vnni": cpu["vnni"],
            "cpu_amx": cpu["amx"],
            "cpu_count": os.cpu_count(),
            "loadavg_1m_after": os.getloadavg()[0],
            **device,
        },
    }


def cuda_fields() -> dict[str, Any]:
    """torch's version and CUDA build, and on a GPU its name (torch.cuda.get_device_name) and driver version."""
    import torch

    fields: dict[str, Any] = {"torch": torch.__version__, "torch_cuda": torch.version.cuda}
    if torch.cuda.is_available():
        fields["gpu"] = torch.cuda.get_device_name(0)
        fields["driver"] = _driver_version()
    return fields


def _driver_version() -> str | None:
    """The NVIDIA driver's version from nvidia-smi (None where it is missing or fails)."""
    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = done.stdout.split()
    return lines[0] if done.returncode == 0 and lines else None


def append_record(path: str | Path, record: dict[str, Any]) -> None:
    """Append one JSON line to a results log (earlier lines are never touched) and say where."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
    print(f"appended to {path}")


def timed_cli(arguments: list[str], *, check: bool = True) -> dict[str, Any]:
    """Wall and CPU seconds (user + system, of the child) of one `compressor` command, and its exit code.

    On one thread the CPU seconds are what an idle machine's wall time would be, so a loaded machine
    still gives a fair figure.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "compressor.cli.main", *arguments], capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if check and done.returncode != 0:
        raise SystemExit(
            f"compressor {' '.join(arguments)} failed ({done.returncode}): {done.stderr.decode()}"
        )
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "exit_code": done.returncode}
