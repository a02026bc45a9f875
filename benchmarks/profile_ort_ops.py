"""Where onnxruntime's CPU time goes in a bundle's files: per op kind (convolutions split into stem, depthwise,
1x1 and other), per call, from onnxruntime's own profiler, with the node types of the optimised graph.

    python benchmarks/profile_ort_ops.py BUNDLE --formats fp32,int8 --batch 32 --threads 1

Shows whether int8 runs fused (QLinearConv / QLinearAdd rather than standalone QuantizeLinear and
DequantizeLinear nodes) and which convolutions gain least from it. The profiler's per-node times are summed over
--runs calls after warm-up and divided by --runs; the files take one call each in turn (interleaved), so
load from other processes falls on each alike. Appends one JSON line to
benchmarks/results.jsonl. Torch-free.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from compressor_edge import load_bundle
from compressor_edge.latency import tile_batch
from compressor_edge.machine import describe_cpu
from records import append_record, record_header

RESULTS = Path(__file__).resolve().parent / "results.jsonl"
CONVS = ("Conv", "FusedConv", "QLinearConv", "NhwcFusedConv")


def _conv_kinds(graph: onnx.GraphProto) -> dict[str, str]:
    """Node name -> 'stem' (reads <= 4 channels), 'depthwise', '1x1' or 'other conv', for every convolution."""
    weights = {t.name: list(t.dims) for t in graph.initializer}
    kinds = {}
    for node in graph.node:
        if node.op_type not in CONVS:
            continue
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        dims = weights.get(node.input[3] if node.op_type == "QLinearConv" else node.input[1], [])
        if len(dims) == 4 and dims[1] * group <= 4:
            kinds[node.name] = "conv: stem"
        elif group > 1:
            kinds[node.name] = "conv: depthwise"
        else:
            kinds[node.name] = "conv: 1x1" if dims[2:] == [1, 1] else "conv: other"
    return kinds


def _session(path: Path, threads: int, work: Path) -> tuple[ort.InferenceSession, Path]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    optimised = work / f"{path.stem}.optimised.onnx"
    options.optimized_model_filepath = str(optimised)
    options.enable_profiling = True
    options.profile_file_prefix = str(work / path.stem)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]), optimised


def _summary(events: list[dict[str, Any]], optimised: Path, runs: int, warmup: int) -> dict[str, Any]:
    """Per-kind ms per call over the calls after `warmup`, and the optimised graph's node counts."""
    starts = sorted(e["ts"] for e in events if e.get("cat") == "Session" and e["name"] == "model_run")
    graph = onnx.load(str(optimised)).graph
    kinds = _conv_kinds(graph)
    totals: collections.Counter[str] = collections.Counter()
    for event in events:
        if (
            event.get("cat") == "Node"
            and event["name"].endswith("_kernel_time")
            and event["ts"] >= starts[warmup]
        ):
            node = event["name"][: -len("_kernel_time")]
            totals[kinds.get(node, event["args"]["op_name"])] += event["dur"]
    return {
        "ms_per_call": {k: v / runs / 1e3 for k, v in totals.most_common()},
        "graph_nodes": dict(collections.Counter(n.op_type for n in graph.node).most_common()),
    }


def profile(
    paths: dict[str, Path], batch: np.ndarray, threads: int, runs: int, work: Path, warmup: int = 3
) -> dict[str, dict[str, Any]]:
    """Profile every file, one call each in turn (interleaved), `warmup` untimed calls first."""
    sessions = {fmt: _session(path, threads, work) for fmt, path in paths.items()}
    for _ in range(warmup + runs):
        for session, _ in sessions.values():
            session.run(None, {session.get_inputs()[0].name: batch})
    out = {}
    for fmt, (session, optimised) in sessions.items():
        events = json.loads(Path(session.end_profiling()).read_text())
        out[fmt] = {"file": paths[fmt].name, **_summary(events, optimised, runs, warmup)}
    return out


def main(argv: list[str] | None = None) -> int:
    """Profile each format, print one table per file, append the JSON line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--formats", default="fp32,int8")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    bundle = load_bundle(args.bundle)
    batch = tile_batch(bundle.probes().clean_images, args.batch)
    paths = {f: bundle.model_path(f, "onnxruntime-cpu") for f in args.formats.split(",") if f}
    with tempfile.TemporaryDirectory(prefix="profile-ort-") as tmp:
        files = profile(paths, batch, args.threads, args.runs, Path(tmp))
    print(f"{args.bundle}, batch {args.batch}, {args.threads} thread(s), {describe_cpu()}")
    for fmt, result in files.items():
        total = sum(result["ms_per_call"].values())
        print(f"\n{fmt} ({result['file']}): {total:.2f} ms per call in nodes; graph: {result['graph_nodes']}")
        print("| op | ms per call | share |\n|---|---|---|")
        for op, ms in result["ms_per_call"].items():
            print(f"| {op} | {ms:.3f} | {100 * ms / total:.1f}% |")
    record = {
        **record_header("profile_ort_ops", argv),
        "onnxruntime": ort.__version__,
        "batch": args.batch,
        "threads": args.threads,
        "runs": args.runs,
        "files": files,
    }
    append_record(args.out, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
