"""The bf16 timing runs with the allocator settled as in a training process: a fresh process's page faults
on every step's activations must not decide fp32 against bf16."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

FAULTS_PER_CYCLE = """
import resource, torch
from compressor.engine.cpu_bf16 import settle_allocator

def faults() -> float:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        block = torch.ones(1 << 20)  # 4 MiB, above glibc's initial 128 KiB mmap threshold
        del block
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20

fresh = faults()
settle_allocator()
print(fresh, faults())
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the thresholds settled are glibc's")
def test_a_settled_allocator_stops_faulting_in_each_steps_memory_again():
    out = subprocess.run([sys.executable, "-c", FAULTS_PER_CYCLE], capture_output=True, text=True, check=True)
    fresh, settled = map(float, out.stdout.split())
    assert fresh >= 50  # 4 MiB faulted in again on every cycle (in pages or fault-around runs of them)
    assert settled < fresh / 10
