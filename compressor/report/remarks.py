"""Remarks a deployment engineer needs beside a PASS: a format that verifies but runs slower than fp32."""

from __future__ import annotations

from typing import Any

SLOWER = 0.95  # speedup vs fp32 below this is "slower" (above: within interleaved timing noise)


def slower_than_fp32(verify: dict[str, Any] | None) -> list[str]:
    """One remark per verified row slower than fp32 on its own runtime, with the speedups that say so."""
    remarks = []
    for row in (verify or {}).get("results", []):
        if row["format"] == "fp32" or row.get("error"):
            continue
        slow = {
            int(batch): timing["speedup_vs_fp32"]
            for batch, timing in row.get("latency_ms", {}).items()
            if timing.get("speedup_vs_fp32") is not None and timing["speedup_vs_fp32"] < SLOWER
        }
        if slow:
            at = ", ".join(f"{speedup:.2f}x at batch {batch}" for batch, speedup in sorted(slow.items()))
            remarks.append(
                f"{row['format']} on {row['backend']} is slower than fp32 on the same runtime ({at}); "
                "its file is smaller, but fp32 is the faster choice on this runtime and machine"
            )
    return remarks
