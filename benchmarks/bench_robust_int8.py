"""Robustness-aware int8 against plain int8 on a trained run's student, where plain int8 loses robustness.

    python benchmarks/bench_robust_int8.py runs/quickstart --calibration-scale 0.3 --threads 1

The run's student is exported twice from the same calibration images, scaled by --calibration-scale (an
under-exposed calibration set, as from a camera at another exposure than the deployed one): once as plain int8
(robust gate off) and once robustness-aware (the gate at --max-drop on held-out validation images attacked with
PGD-20 in PyTorch). Both bundles are verified on the CPU backends (Square on the points PyTorch keeps robust,
latency at batch 1 and 32 with --threads). Prints the int8 rows and appends one JSON line (CPU model and ISA
flags, command, the robustness-aware record, the verify rows) to benchmarks/results.jsonl.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import torch
from compressor_edge import VerifyOptions, verify_bundle
from compressor_edge.bundle import load_bundle
from records import append_record, record_header

from compressor.attacks import get_attack
from compressor.bundling import ExportImages, ExportOptions, export_bundle
from compressor.data.loading import load_data
from compressor.data.sources import as_float
from compressor.pipeline.artifacts import load_student
from compressor.recipe_loading import load_recipe
from compressor.rundir import RunDir

RESULTS = Path(__file__).resolve().parent / "results.jsonl"


def main(argv: list[str] | None = None) -> int:
    """Export plain and robustness-aware int8 from one calibration set, verify both, append the record."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", type=Path, help="a finished run directory (distill stage done)")
    parser.add_argument("--calibration-scale", type=float, default=0.3)
    parser.add_argument("--max-drop", type=float, default=0.03)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    run = RunDir(args.run)
    recipe = load_recipe(run.recipe)
    data = load_data(recipe.data, recipe.run.seed)
    student = load_student(run, recipe, "cpu")
    eps, norm = recipe.evaluation_threat()
    cfg = recipe.export
    pgd = get_attack("pgd20")
    x, y = as_float(data.test.x[: cfg.num_probes]), data.test.y[: cfg.num_probes]
    held_x, held_y = as_float(data.val.x[: cfg.int8_robust_images]), data.val.y[: cfg.int8_robust_images]
    pool = data.train if data.train is not None else data.val
    images = ExportImages(
        probe_images=x,
        probe_labels=y,
        probe_adversarial_images=pgd(student, x, y, eps=eps, norm=norm).x_adv,
        calibration_images=(as_float(pool.x[: cfg.calibration_images]) * args.calibration_scale).clamp(0, 1),
        int8_robust_images=held_x,
        int8_robust_adversarial_images=pgd(student, held_x, held_y, eps=eps, norm=norm).x_adv,
        int8_robust_labels=held_y,
    )
    common = {
        "images": images,
        "class_names": data.class_names,
        "eps": eps,
        "norm": norm,
        "pytorch_metrics": {},
    }
    options = ExportOptions(formats=("fp32", "int8"), seed=recipe.run.seed)
    backends = ["onnxruntime-cpu"] + (["openvino-cpu"] if importlib.util.find_spec("openvino") else [])
    rows, records = {}, {}
    with tempfile.TemporaryDirectory(prefix="bench-robust-int8-") as tmp:
        for name, max_drop in (("plain", None), ("robustness-aware", args.max_drop)):
            robust = replace(options, int8_max_robust_drop=max_drop)
            bundle = export_bundle(student, Path(tmp) / name, **common, options=robust)
            manifest = load_bundle(bundle).manifest
            records[name] = manifest["formats"]["int8"]["quantization"].get("robustness_aware")
            report = verify_bundle(
                bundle, backends=backends, options=VerifyOptions(batch_sizes=(1, 32), threads=args.threads)
            )
            rows[name] = report.to_dict()
            print(f"## {name} int8\n\n{report.to_markdown()}")
    record = {
        **record_header("robust_int8", argv),
        "threads": args.threads,
        "student": recipe.student.name,
        "calibration_scale": args.calibration_scale,
        "robustness_aware": records["robustness-aware"],
        "verify": rows,
    }
    append_record(args.out, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
