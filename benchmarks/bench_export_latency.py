"""Latency of every exported format per runtime, against PyTorch eager and against fp32, with issue 12's gates.

    python benchmarks/bench_export_latency.py --models cifar_resnet18,cifar_mobilenetv2 --batch-sizes 1,32 --threads 1

Each model (random weights: latency does not depend on their values; calibrated on random images) is exported
with export_bundle, then timed numpy-in / numpy-out with the edge kit's backends (median of --runs after
--warmup). All runners of one device and batch size (PyTorch eager, and every format on every runtime of that
device) alternate in 10 rounds, so load from other processes falls on each alike: compare ratios from one
run, not absolute times across runs. CPU runtimes: onnxruntime-cpu always, openvino-cpu when installed (and
openvino-cpu-bf16, the fp32 file computed in bf16, where the CPU has bf16); GPU
ones (onnxruntime-cuda, TensorRT) when present, against PyTorch on CUDA. int8 runs the file made for each
runtime (U8S8 QDQ on CPU runtimes, the symmetric one on TensorRT). `vs PyTorch` = PyTorch ms / format ms and
`vs fp32` = same-runtime fp32 ms / format ms (> 1: faster; openvino-cpu-bf16's against openvino-cpu's exact fp32). The targets of export_gates.py print PASS/FAIL.
Appends one JSON line (CPU model and ISA flags, versions, command, rows, gates) to benchmarks/results.jsonl.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import timm
import torch
from compressor_edge import create_backend, load_bundle
from compressor_edge.backends import backend_spec
from compressor_edge.latency import measure_interleaved, tile_batch
from compressor_edge.machine import cpu_info, describe_cpu
from export_gates import latency_gates
from records import append_record, cuda_fields, record_header
from torch import nn

import compressor.models.catalog  # noqa: F401  (registers the small-input models with timm)
from compressor.bundling import ExportImages, ExportOptions, export_bundle
from compressor.bundling.manifest import toolkit_versions
from compressor.models.wrapper import Normalized

RESULTS = Path(__file__).resolve().parent / "results.jsonl"


def _backends(requested: list[str] | None) -> list[str]:
    if requested:
        return requested
    import importlib.util

    import onnxruntime

    found = ["onnxruntime-cpu"]
    if importlib.util.find_spec("openvino") is not None:
        import openvino

        found.append("openvino-cpu")
        if "BF16" in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
            found.append("openvino-cpu-bf16")  # the fp32 file computed in bf16 (AMX / AVX512-BF16)
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        found.append("onnxruntime-cuda")
    try:
        import tensorrt  # noqa: F401

        if torch.cuda.is_available():
            found.append("tensorrt")
    except ImportError:
        pass
    return found


def _model(name: str) -> tuple[nn.Module, tuple[int, int, int]]:
    torch.manual_seed(0)
    net = timm.create_model(name, pretrained=False, num_classes=10)
    shape = tuple(net.pretrained_cfg["input_size"])
    channels = shape[0]
    return Normalized(net, [0.5] * channels, [0.25] * channels).eval(), shape  # type: ignore[return-value]


def _pytorch_runner(model: nn.Module, device: str) -> Callable[[np.ndarray], object]:
    model = model.to(device)

    @torch.inference_mode()
    def run(batch: np.ndarray) -> np.ndarray:
        return model(torch.from_numpy(batch).to(device)).cpu().numpy()

    return run


CPU_BACKENDS = ("onnxruntime-cpu", "openvino-cpu", "openvino-cpu-bf16")


def _export(
    name: str, model: nn.Module, shape: tuple[int, ...], args: argparse.Namespace, work: Path
) -> Path:
    rng = np.random.default_rng(0)
    probes = torch.from_numpy(rng.random((32, *shape), dtype=np.float32))
    images = ExportImages(
        probe_images=probes,
        probe_labels=torch.zeros(32, dtype=torch.long),
        probe_adversarial_images=probes,
        calibration_images=probes,
    )
    return export_bundle(
        model,
        work / name,
        images,
        class_names=[str(i) for i in range(10)],
        eps=0.0,
        norm="linf",
        pytorch_metrics={},
        options=ExportOptions(formats=tuple(args.formats), int8_tensorrt="tensorrt" in args.backends_used),
    )


def _time_group(
    model: nn.Module, bundle_dir: Path, group: list[str], device: str, args: argparse.Namespace, work: Path
) -> list[dict[str, Any]]:
    """Load every format on every runtime of one device, then time them with PyTorch, interleaved."""
    bundle = load_bundle(bundle_dir)
    images = bundle.probes().clean_images
    rows = []
    with ExitStack() as stack:
        loaded = {
            (backend_name, fmt): stack.enter_context(
                create_backend(
                    backend_name,
                    bundle.model_path(fmt, backend_name),
                    batch_sizes=args.batch_sizes,
                    cache_dir=work / "engines",
                    threads=args.threads,
                )
            )
            for backend_name in group
            for fmt in bundle.formats
            if fmt in backend_spec(backend_name).formats
        }
        runners = {
            ("pytorch", "eager"): _pytorch_runner(model, device),
            **{k: b.run for k, b in loaded.items()},
        }
        for batch in args.batch_sizes:
            timed = measure_interleaved(
                runners, tile_batch(images, batch), runs=args.runs, warmup=args.warmup
            )
            torch_ms = timed[("pytorch", "eager")].median_ms
            for (backend_name, fmt), backend in loaded.items():
                t, fp32 = (
                    timed[(backend_name, fmt)],
                    timed.get((backend_spec(backend_name).exact_runtime or backend_name, "fp32")),
                )
                rows.append(
                    {
                        "format": fmt,
                        "backend": backend_name,
                        "device": backend.describe(),
                        "file": bundle.model_path(fmt, backend_name).name,
                        "batch": batch,
                        "median_ms": t.median_ms,
                        "p90_ms": t.p90_ms,
                        "pytorch_ms": torch_ms,
                        "speedup_vs_pytorch": torch_ms / t.median_ms,
                        "speedup_vs_fp32": None if fp32 is None else fp32.median_ms / t.median_ms,
                        "size_bytes": bundle.model_path(fmt, backend_name).stat().st_size,
                    }
                )
    return rows


def bench_model(name: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Export one model, then time PyTorch and every format per device group, interleaved, per batch size."""
    model, shape = _model(name)
    bundle_dir = _export(name, model, shape, args, work)
    rows = []
    cpu = [b for b in args.backends_used if b in CPU_BACKENDS]
    gpu = [b for b in args.backends_used if b not in CPU_BACKENDS]
    for group, device in ((cpu, "cpu"), (gpu, "cuda")):
        if group:
            rows += _time_group(model, bundle_dir, group, device, args, work)
    params = sum(p.numel() for p in model.parameters())
    return {"input": list(shape), "params": params, "rows": rows}


def _table(results: dict[str, Any]) -> str:
    lines = [
        "| model | format | backend | batch | median ms | p90 ms | PyTorch ms | vs PyTorch | vs fp32 | size |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        for r in result["rows"]:
            vs_fp32 = "-" if r["speedup_vs_fp32"] is None else f"{r['speedup_vs_fp32']:.2f}x"
            lines.append(
                f"| {name} | {r['format']} | {r['backend']} | {r['batch']} | {r['median_ms']:.3f} | {r['p90_ms']:.3f} "
                f"| {r['pytorch_ms']:.3f} | {r['speedup_vs_pytorch']:.2f}x | {vs_fp32} | {r['size_bytes'] / 2**20:.2f} MiB |"
            )
    return "\n".join(lines)


def _ints(text: str) -> list[int]:
    return [int(item) for item in text.split(",") if item.strip()]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table, append the JSON line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--models", default="cifar_resnet18,cifar_mobilenetv2", help="timm names (the zoo is registered)"
    )
    parser.add_argument("--formats", default="fp32,int8")
    parser.add_argument("--backends", default=None, help="default: every backend available here")
    parser.add_argument("--batch-sizes", type=_ints, default=[1, 32])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="torch and runtime intra-op threads")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--bundles",
        type=Path,
        default=None,
        help="keep the exported bundles here (default: a temporary folder)",
    )
    args = parser.parse_args(argv)
    args.formats = [f for f in args.formats.split(",") if f]
    torch.set_num_threads(args.threads)
    args.backends_used = _backends(args.backends.split(",") if args.backends else None)
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        work = args.bundles or Path(tmp)
        results = {name: bench_model(name, args, work) for name in args.models.split(",")}
    print(_table(results))
    cpu = cpu_info()
    gates = [g for name, r in results.items() for g in latency_gates(name, r["rows"], cpu["vnni"])]
    print(f"\nCPU: {describe_cpu()}; {args.threads} thread(s)")
    print("\n".join(g.line() for g in gates) or "no gate applies to these rows")
    import onnxruntime

    record = {
        **record_header("export_latency", argv, **cuda_fields()),
        "onnxruntime_providers": onnxruntime.get_available_providers(),
        "backends": args.backends_used,
        "threads": args.threads,
        "runs": args.runs,
        "warmup": args.warmup,
        "versions": {**toolkit_versions(), "openvino": _version("openvino")},
        "models": results,
        "gates": [g.to_dict() for g in gates],
        "gates_passed": all(g.passed for g in gates),
    }
    append_record(args.out, record)
    return 0


def _version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


if __name__ == "__main__":
    sys.exit(main())
