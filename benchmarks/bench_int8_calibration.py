"""int8 quantisation with onnxruntime's calibration cache against calibrating every time, in one run.

    python benchmarks/bench_int8_calibration.py --model cifar_resnet18 --images 128 --rounds 3 --threads 1

The robustness-aware int8 search quantises one candidate file per set of layers kept in float; the layers do
not change the activation ranges, so every candidate reuses the ranges calibrated once (`quantize_int8(...,
calibration_cache=...)`). This times both, interleaved round by round on the same fp32 ONNX file (random
weights, the model's input size) and images: "fresh" calibrates in every call (the baseline), "cached" reads
the ranges a first call wrote; it checks that the two files decide the same (top-1 agreement on the images),
prints the medians and the ratio, and appends one JSON line (CPU model and ISA flags) to
benchmarks/results.jsonl.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import numpy as np
import onnxruntime as ort
import timm
import torch
from compressor_edge.convert import quantize_int8
from records import append_record, record_header

import compressor.models.catalog  # noqa: F401  (registers the zoo's architectures with timm)
from compressor.bundling.onnx_export import export_onnx

RESULTS = Path(__file__).resolve().parent / "results.jsonl"


def _fp32_file(name: str, work: Path) -> tuple[Path, tuple[int, ...]]:
    torch.manual_seed(0)
    net = timm.create_model(name, pretrained=False, num_classes=10).eval()
    cfg = cast(dict[str, Any], net.pretrained_cfg)
    shape = tuple(cfg["input_size"])
    path = work / "model.onnx"
    export_onnx(net, path, torch.rand(2, *shape))
    return path, shape


def _top1(path: Path, images: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return session.run(None, {name: images})[0].argmax(1)


def main(argv: list[str] | None = None) -> int:
    """Time fresh against cached calibration, interleaved; print the ratio and append the record."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="cifar_resnet18")
    parser.add_argument("--images", type=int, default=128, help="calibration images")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-int8-cal-") as tmp:
        work = Path(tmp)
        src, shape = _fp32_file(args.model, work)
        images = np.random.default_rng(0).random((args.images, *shape), dtype=np.float32)
        cache = work / "calibration.json"
        quantize_int8(src, work / "first.onnx", images, calibration_cache=cache)  # writes the ranges
        if not cache.is_file():
            print("this onnxruntime has no calibration cache (quantize_static lacks calibration_cache_path)")
            return 1
        seconds: dict[str, list[float]] = {"fresh": [], "cached": []}
        for _ in range(args.rounds):
            for kind in seconds:
                start = time.perf_counter()
                quantize_int8(
                    src, work / f"{kind}.onnx", images, calibration_cache=cache if kind == "cached" else None
                )
                seconds[kind].append(time.perf_counter() - start)
        agreement = float((_top1(work / "fresh.onnx", images) == _top1(work / "cached.onnx", images)).mean())
    fresh, cached = (statistics.median(seconds[k]) for k in ("fresh", "cached"))
    print(
        f"{args.model} int8, {args.images} calibration images, {args.rounds} rounds, {args.threads} thread(s): "
        f"fresh calibration {fresh:.2f} s, cached {cached:.2f} s: {fresh / cached:.1f}x; "
        f"top-1 agreement of the two files {100 * agreement:.1f}%"
    )
    record = record_header("int8_calibration", argv)
    record |= {
        "model": args.model,
        "images": args.images,
        "threads": args.threads,
        "seconds": seconds,
        "median_fresh_s": round(fresh, 3),
        "median_cached_s": round(cached, 3),
        "speedup": round(fresh / cached, 2),
        "top1_agreement": agreement,
    }
    append_record(args.out, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
