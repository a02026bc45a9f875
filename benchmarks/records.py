"""What every benchmark record starts with (what ran, when, on which CPU) and how it is appended. Torch-free.

Scripts in this folder import it as a sibling module (`from records import ...`), like export_gates.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
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


def append_record(path: str | Path, record: dict[str, Any]) -> None:
    """Append one JSON line to a results log (earlier lines are never touched) and say where."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
    print(f"appended to {path}")
