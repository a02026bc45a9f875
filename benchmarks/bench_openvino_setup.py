"""OpenVINO's CPU compile settings against onnxruntime on one bundle file: what the openvino-cpu backend's
choices (no CPU pinning, a static-batch model per timed batch size) are worth.

    python benchmarks/bench_openvino_setup.py BUNDLE --format int8 --batch-sizes 1,32 --threads 1

Runners, all timed round-robin in one loop per batch size (the edge kit's interleaved timer): onnxruntime-cpu,
OpenVINO with CPU pinning on or off and a dynamic or static batch (pinned + dynamic: OpenVINO's CPU default with
f32 precision, this backend before), and the openvino-cpu backend as shipped. The settings differ most when
other processes load the machine, so the load average is recorded. Appends one JSON line (CPU model and ISA
flags, versions, command, load, rows) to benchmarks/results.jsonl. Torch-free.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import openvino as ov
from compressor_edge import create_backend, load_bundle
from compressor_edge.latency import measure_interleaved, tile_batch
from compressor_edge.machine import describe_cpu
from records import append_record, record_header

RESULTS = Path(__file__).resolve().parent / "results.jsonl"
SETTINGS = {
    f"openvino {'pinned' if pinned else 'unpinned'}, {'static' if static else 'dynamic'} batch": (
        pinned,
        static,
    )
    for pinned in (True, False)
    for static in (False, True)
}
SHIPPED = "openvino-cpu backend"


def _compile(core: Any, path: Path, batch: int, pinned: bool, static: bool, threads: int) -> Any:
    model = core.read_model(str(path))
    if static:
        shape = model.inputs[0].get_partial_shape()
        shape[0] = batch
        model.reshape({0: shape})
    config = {
        "INFERENCE_PRECISION_HINT": "f32",
        "INFERENCE_NUM_THREADS": threads,
        "ENABLE_CPU_PINNING": pinned,
    }
    return core.compile_model(model, "CPU", config)


def _runner(compiled: Any) -> Callable[[np.ndarray], object]:
    request = compiled.create_infer_request()
    return lambda x: request.infer({0: x}, share_inputs=True)


def main(argv: list[str] | None = None) -> int:
    """Time the settings per batch size, print the table, append the JSON line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--format", default="int8")
    parser.add_argument("--batch-sizes", default="1,32")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    bundle = load_bundle(args.bundle)
    path = bundle.model_path(args.format, "openvino-cpu")
    images = bundle.probes().clean_images
    batches = [int(b) for b in args.batch_sizes.split(",") if b]
    core = ov.Core()
    load_before = os.getloadavg()[0]
    rows: list[dict[str, Any]] = []
    ort = create_backend(
        "onnxruntime-cpu", bundle.model_path(args.format, "onnxruntime-cpu"), threads=args.threads
    )
    shipped = create_backend("openvino-cpu", path, threads=args.threads, batch_sizes=batches)
    with ort, shipped:
        for batch in batches:
            x = tile_batch(images, batch)
            runners: dict[str, Callable[[np.ndarray], object]] = {"onnxruntime-cpu": ort.run}
            for name, (pinned, static) in SETTINGS.items():
                runners[name] = _runner(_compile(core, path, batch, pinned, static, args.threads))
            runners[SHIPPED] = shipped.run
            timed = measure_interleaved(runners, x, runs=args.runs, warmup=10)
            ort_ms = timed["onnxruntime-cpu"].median_ms
            for name, t in timed.items():
                rows.append(
                    {
                        "setting": name,
                        "batch": batch,
                        "median_ms": t.median_ms,
                        "p90_ms": t.p90_ms,
                        "onnxruntime_ms_over_this": ort_ms / t.median_ms,
                    }
                )
    load_after = os.getloadavg()[0]
    print(
        f"{path.name}, {args.threads} thread(s), {describe_cpu()}, load {load_before:.1f} -> {load_after:.1f}"
    )
    print("| batch | setting | median ms | p90 ms | onnxruntime ms / this |\n|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['batch']} | {r['setting']} | {r['median_ms']:.3f} | {r['p90_ms']:.3f} "
            f"| {r['onnxruntime_ms_over_this']:.2f}x |"
        )
    record = {
        **record_header("openvino_setup", argv, loadavg_1m_before=load_before),
        "versions": {"openvino": ov.__version__, "onnxruntime": onnxruntime.__version__},
        "file": path.name,
        "threads": args.threads,
        "runs": args.runs,
        "rows": rows,
    }
    append_record(args.out, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
