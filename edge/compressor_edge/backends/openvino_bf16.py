"""OpenVINO on the CPU in bf16: the bundle's fp32 file, computed at bf16 inference precision.

On CPUs with AMX or AVX512-BF16, OpenVINO can run an fp32 model's matrix work in bf16 (8 significant bits),
which is what its CPU plugin would choose by default there. A separate backend, so the fp32 row stays an
exact fp32 check and this row is judged by the `bf16` tolerances (logits relative to their scale,
agreement, accuracies, Square), then timed beside the others: where it passes and is faster, it is the
recommendation. A CPU without bf16 support makes it unavailable, with that reason.
"""

from __future__ import annotations

from pathlib import Path

from compressor_edge.backends.base import Backend
from compressor_edge.backends.openvino import SPEC as F32_SPEC
from compressor_edge.backends.openvino import OpenVINOBackend
from compressor_edge.backends.registry import BackendSpec, LoadOptions, register


def _load(path: Path, options: LoadOptions) -> Backend:
    return OpenVINOBackend(path, threads=options.threads, batch_sizes=options.batch_sizes, precision="bf16")


SPEC = register(
    BackendSpec(
        name="openvino-cpu-bf16",
        runtime=F32_SPEC.runtime,
        summary="OpenVINO on the CPU computing the fp32 file in bf16 (AMX / AVX512-BF16 CPUs)",
        packages=F32_SPEC.packages,
        install=F32_SPEC.install,  # the same package and extra as openvino-cpu
        load=_load,
        formats=("fp32",),
        precision="bf16",
        exact_runtime=F32_SPEC.name,
    )
)
