"""Latency of every exported format against PyTorch eager on the same model, batch sizes and threads.

    python benchmarks/bench_export_latency.py --models small_cnn,cifar_resnet18 --batch-sizes 1,32

Each model (random weights: latency does not depend on their values) is exported with export_bundle, then
timed numpy-in / numpy-out (median of --runs after --warmup; all runners of one batch size alternate in
10 rounds, so load from other processes falls on each alike) with the edge kit's backends: onnxruntime CPU
(fp32, fp16, int8) always, onnxruntime CUDA and TensorRT when present. The baseline is PyTorch eager on the
same device (CPU for CPU backends, CUDA for GPU ones). `speedup` = PyTorch ms / format ms (> 1: faster).
Prints one table and appends one JSON line (device, versions, command, figures) to benchmarks/results.jsonl.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import timm
import torch
from compressor_edge import create_backend, load_bundle
from compressor_edge.latency import Latency, tile_batch
from torch import nn

import compressor.models.zoo  # noqa: F401  (registers the small-input models with timm)
from compressor.exporting import export_bundle
from compressor.exporting.manifest import toolkit_versions
from compressor.models.wrapper import Normalized

RESULTS = Path(__file__).resolve().parent / "results.jsonl"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _backends(requested: list[str] | None) -> list[str]:
    if requested:
        return requested
    import onnxruntime

    found = ["onnxruntime-cpu"]
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


def _interleaved(
    runners: dict[str, Callable[[np.ndarray], object]],
    images: np.ndarray,
    runs: int,
    warmup: int,
    rounds: int = 10,
) -> dict[str, Latency]:
    """Time every runner on the same batch in alternating rounds, so load from other processes hits all alike."""
    for run in runners.values():
        for _ in range(warmup):
            run(images)
    per_round = max(1, runs // rounds)
    samples: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            for _ in range(per_round):
                start = time.perf_counter()
                run(images)
                samples[name].append(time.perf_counter() - start)
    return {
        name: Latency(len(images), float(np.median(t) * 1e3), float(np.percentile(t, 90) * 1e3), len(t))
        for name, t in samples.items()
    }


def _pytorch_runner(model: nn.Module, device: str) -> Callable[[np.ndarray], object]:
    model = model.to(device)

    @torch.inference_mode()
    def run(batch: np.ndarray) -> np.ndarray:
        return model(torch.from_numpy(batch).to(device)).cpu().numpy()

    return run


def bench_model(name: str, args: argparse.Namespace, backends: list[str], work: Path) -> dict[str, Any]:
    """Export one model, then time PyTorch and every format, interleaved, per backend and batch size."""
    model, shape = _model(name)
    rng = np.random.default_rng(0)
    probes = torch.from_numpy(rng.random((32, *shape), dtype=np.float32))
    bundle_dir = export_bundle(
        model,
        work / name,
        calibration_images=probes,
        probe_images=probes,
        probe_labels=torch.zeros(32, dtype=torch.long),
        probe_adversarial_images=probes,
        class_names=[str(i) for i in range(10)],
        eps=0.0,
        norm="linf",
        pytorch_metrics={},
        formats=tuple(args.formats),
    )
    bundle = load_bundle(bundle_dir)
    images = bundle.probes().clean_images
    rows = []
    for backend_name in backends:
        device = "cpu" if backend_name == "onnxruntime-cpu" else "cuda"
        with ExitStack() as stack:
            loaded = {
                fmt: stack.enter_context(
                    create_backend(
                        backend_name,
                        bundle.model_path(fmt),
                        batch_sizes=args.batch_sizes,
                        cache_dir=work / "engines",
                        threads=args.threads,
                    )
                )
                for fmt in bundle.formats
            }
            runners = {"pytorch": _pytorch_runner(model, device), **{f: b.run for f, b in loaded.items()}}
            for batch in args.batch_sizes:
                timed = _interleaved(runners, tile_batch(images, batch), args.runs, args.warmup)
                torch_ms = timed["pytorch"].median_ms
                for fmt, backend in loaded.items():
                    t = timed[fmt]
                    rows.append(
                        {
                            "format": fmt,
                            "backend": backend_name,
                            "device": backend.describe(),
                            "batch": batch,
                            "median_ms": t.median_ms,
                            "p90_ms": t.p90_ms,
                            "pytorch_ms": torch_ms,
                            "speedup_vs_pytorch": torch_ms / t.median_ms,
                            "size_bytes": bundle.model_path(fmt).stat().st_size,
                        }
                    )
    params = sum(p.numel() for p in model.parameters())
    return {"input": list(shape), "params": params, "rows": rows}


def _table(results: dict[str, Any]) -> str:
    lines = [
        "| model | format | backend | batch | median ms | p90 ms | PyTorch ms | speedup | size |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        for r in result["rows"]:
            lines.append(
                f"| {name} | {r['format']} | {r['backend']} | {r['batch']} | {r['median_ms']:.3f} | {r['p90_ms']:.3f} "
                f"| {r['pytorch_ms']:.3f} | {r['speedup_vs_pytorch']:.2f}x | {r['size_bytes'] / 2**20:.2f} MiB |"
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
        "--models", default="small_cnn,cifar_resnet18", help="timm names (the zoo is registered)"
    )
    parser.add_argument("--formats", default="fp32,fp16,int8")
    parser.add_argument("--backends", default=None, help="default: every backend available here")
    parser.add_argument("--batch-sizes", type=_ints, default=[1, 32])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2, help="torch and onnxruntime intra-op threads")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.formats = [f for f in args.formats.split(",") if f]
    torch.set_num_threads(args.threads)
    backends = _backends(args.backends.split(",") if args.backends else None)
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        results = {name: bench_model(name, args, backends, Path(tmp)) for name in args.models.split(",")}
    print(_table(results))
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    record = {
        "bench": "export_latency",
        "utc": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "device": {
            "cpu": _cpu_name(),
            "cpu_count": os.cpu_count(),
            "gpu": gpu,
            "loadavg_1m_after": os.getloadavg()[0],
        },
        "threads": args.threads,
        "runs": args.runs,
        "warmup": args.warmup,
        "versions": toolkit_versions(),
        "models": results,
    }
    with open(args.out, "a") as handle:
        handle.write(json.dumps(record) + "\n")
    print(f"appended to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
