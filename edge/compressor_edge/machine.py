"""The CPU a number was measured on: model name and the ISA flags that decide int8 / bf16 speed and accuracy.

VNNI (avx512_vnni, avx_vnni) or AMX lets onnxruntime's U8S8 int8 kernels accumulate u8 x s8 products in
int32; without them they use vpmaddubsw, whose int16 intermediate sums saturate on full-range weights (so
int8 weights are then kept to 7 bits). AMX also makes bf16 the default precision of OpenVINO's CPU plugin.
"""

from __future__ import annotations

import platform
from functools import lru_cache
from pathlib import Path
from typing import Any

ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16")


def parse_cpuinfo(text: str) -> tuple[str, set[str]]:
    """Model name and flags from the text of /proc/cpuinfo (x86 'flags' or Arm 'Features')."""
    model, flags = "", set[str]()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "Model", "Processor") and not model:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    return model, flags


def summarize(model: str, flags: set[str]) -> dict[str, Any]:
    """{'model', 'machine', 'isa': {flag: bool}, 'vnni', 'amx', 'flags_known', 'cores'} from parsed cpuinfo."""
    import os

    isa = {flag: flag in flags for flag in ISA_FLAGS}
    known = bool(flags)
    return {
        "model": model or platform.processor() or "unknown",
        "machine": platform.machine(),
        "isa": isa if known else {},
        "vnni": isa["avx512_vnni"] or isa["avx_vnni"] or isa["amx_int8"],
        "amx": isa["amx_int8"] or isa["amx_bf16"],
        "flags_known": known,
        "cores": os.cpu_count(),
    }


@lru_cache(maxsize=1)
def cpu_info() -> dict[str, Any]:
    """This CPU's summary (see `summarize`); ISA flags are unknown where /proc/cpuinfo is unreadable."""
    try:
        return summarize(*parse_cpuinfo(Path("/proc/cpuinfo").read_text()))
    except OSError:
        return summarize("", set())


def describe_cpu(info: dict[str, Any] | None = None) -> str:
    """One line: model, architecture and the int8-relevant ISA flags present (this CPU by default)."""
    info = info or cpu_info()
    present = [flag for flag, on in info["isa"].items() if on]
    flags = ", ".join(present) if info["flags_known"] else "ISA flags unknown"
    return f"{info['model']} ({info['machine']}, {info['cores']} cores; {flags or 'no AVX2/VNNI/AMX'})"
