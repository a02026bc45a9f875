"""export_bundle: the student as fp32 / fp16 / int8 ONNX plus manifest.json and probes.npz, written atomically."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from compressor_edge.bundle import FORMAT_FILES, Probes
from compressor_edge.bundle_writer import make_manifest, write_manifest, write_probes
from compressor_edge.convert import convert_to_fp16
from torch import nn

from compressor.errors import UserInputError
from compressor.exporting.atomic import staged_dir
from compressor.exporting.inputs import (
    ArrayLike,
    as_images,
    as_labels,
    check_options,
    check_threat,
    output_classes,
)
from compressor.exporting.int8 import HeldOut, Int8Options, write_int8
from compressor.exporting.manifest import pytorch_logits, toolkit_versions, utc_now
from compressor.exporting.onnx_export import Exporter, export_onnx
from compressor.exporting.parity import EXPORT_BOUNDS, check_parity
from compressor.exporting.square_probe import square_record
from compressor.models.wrapper import unwrap

_PARITY_IMAGES = 32  # clean and as many adversarial probes, per format
# robustness-aware int8: Square queries per held-out image against the fp32 file and every int8 candidate
# (200 made the fp32 reference alone ~160 s of a ResNet-18 export on one thread)
HELD_OUT_SQUARE_QUERIES = 100


def _cpu_copy(model: nn.Module) -> nn.Module:
    """An eval-mode float32 CPU copy, so exporting never moves or changes the caller's model."""
    try:
        copied = copy.deepcopy(unwrap(model))
    except Exception as err:  # deepcopy fails on a few exotic modules; say so in one line
        raise UserInputError(
            f"export: cannot copy the model for export ({type(err).__name__}: {err})"
        ) from None
    return copied.to("cpu").float().eval().requires_grad_(False)


def export_bundle(
    model: nn.Module,
    out_dir: str | Path,
    *,
    formats: Sequence[str] = ("fp32", "fp16", "int8"),
    opset: int = 18,
    dynamic_batch: bool = True,
    calibration_images: ArrayLike | None = None,
    adversarial_calibration_images: ArrayLike | None = None,
    probe_images: ArrayLike,
    probe_labels: ArrayLike,
    probe_adversarial_images: ArrayLike,
    class_names: Sequence[str],
    eps: float,
    norm: str,
    pytorch_metrics: Mapping[str, Any],
    extra_manifest: Mapping[str, Any] | None = None,
    exporter: Exporter = "dynamo",
    int8_calibration_method: str = "minmax",
    int8_reduce_range: bool | str = "auto",
    int8_tensorrt: bool = False,
    int8_robust_images: ArrayLike | None = None,
    int8_robust_adversarial_images: ArrayLike | None = None,
    int8_robust_labels: ArrayLike | None = None,
    int8_max_robust_drop: float | None = None,
    int8_progress: Callable[[int, int], None] | None = None,
    square_queries: int = 150,
    square_points: int = 24,
    seed: int = 0,
) -> Path:
    """Export, check every file against PyTorch, and write the bundle; an earlier bundle survives any failure.

    int8 writes the CPU runtimes' U8S8 file (7-bit weights when `int8_reduce_range` says so; "auto": when
    this CPU lacks VNNI) and, with `int8_tensorrt`, TensorRT's symmetric file beside it. Given held-out
    images (not the probes), their adversarial images crafted on the PyTorch model, and `int8_max_robust_drop`, layers
    whose quantisation costs more robust accuracy than that stay in float (robustness-aware int8);
    `int8_progress(tried, bound)` hears after each int8 candidate that search scores.
    With an L-inf threat model, PyTorch's Square accuracy (`square_queries` per image, `seed`) on up to
    `square_points` probes it keeps robust (nearest to failing first) goes into the manifest, with the
    budget and the seconds it took, for verify to run the same attack against.
    Raises UserInputError (exit 2) for bad arguments and ExportFailed (exit 3) when an exported file fails
    onnx's checker or disagrees with PyTorch on the probes.
    """
    out_dir = Path(out_dir)
    check_options(formats, class_names, pytorch_metrics)
    clean = as_images(probe_images, "probe_images")
    shape = tuple(clean.shape[1:])
    adversarial = as_images(probe_adversarial_images, "probe_adversarial_images", shape)
    if adversarial.shape[0] != clean.shape[0]:
        raise UserInputError("export: probe_adversarial_images must pair one-to-one with probe_images")
    check_threat(clean, adversarial, float(eps), norm)
    calib = None if calibration_images is None else as_images(calibration_images, "calibration_images", shape)
    adv_calib = None
    if adversarial_calibration_images is not None:
        adv_calib = as_images(adversarial_calibration_images, "adversarial_calibration_images", shape)
    reference = _cpu_copy(model)
    n_classes = output_classes(reference, clean)
    if n_classes != len(class_names):
        raise UserInputError(
            f"export: the model has {n_classes} outputs but {len(class_names)} class names were given"
        )
    labels = as_labels(probe_labels, len(clean), n_classes)
    probes = Probes(
        clean, labels, adversarial, pytorch_logits(reference, clean), pytorch_logits(reference, adversarial)
    )
    sample = np.concatenate([clean[:_PARITY_IMAGES], adversarial[:_PARITY_IMAGES]])
    sample_logits = np.concatenate(
        [probes.clean_logits[:_PARITY_IMAGES], probes.adversarial_logits[:_PARITY_IMAGES]]
    )
    example = torch.from_numpy(clean[:2] if len(clean) >= 2 else np.repeat(clean, 2, axis=0))

    with staged_dir(out_dir) as staging:
        fp32 = staging / FORMAT_FILES["fp32"]
        actual_opset = export_onnx(
            reference,
            fp32,
            example if dynamic_batch else example[:1],
            opset=opset,
            dynamic_batch=dynamic_batch,
            exporter=exporter,
        )
        meta: dict[str, dict[str, Any]] = {"fp32": {"precision": "float32"}}
        if "fp16" in formats:
            convert_to_fp16(fp32, staging / FORMAT_FILES["fp16"])
            meta["fp16"] = {"precision": "float16 weights and arithmetic, float32 inputs and outputs"}
        if "int8" in formats:
            robust = None
            held = (int8_robust_images, int8_robust_adversarial_images, int8_robust_labels)
            if all(item is not None for item in held):
                images = as_images(held[0], "int8_robust_images", shape)  # type: ignore[arg-type]
                adv = as_images(held[1], "int8_robust_adversarial_images", images.shape[1:])  # type: ignore[arg-type]
                labels = as_labels(held[2], len(images), n_classes)  # type: ignore[arg-type]
                queries = HELD_OUT_SQUARE_QUERIES if norm == "linf" else 0  # this Square attack is L-inf
                robust = HeldOut(images, adv, labels, float(eps), queries)
            options = Int8Options(
                int8_calibration_method,
                int8_reduce_range,
                int8_tensorrt,
                robust,
                int8_max_robust_drop,
                int8_progress,
            )
            meta["int8"] = write_int8(fp32, staging, calib, adv_calib, options)
        for fmt in meta:
            for entry in [meta[fmt], *meta[fmt].get("alternates", [])]:
                name = entry.get("file", FORMAT_FILES[fmt])
                error = check_parity(staging / name, sample, sample_logits, EXPORT_BOUNDS[fmt])
                entry["export_check"] = {"max_abs_logit_diff": error, "images": len(sample)}
        write_probes(staging, probes)
        fields = {
            "opset": actual_opset,
            "exporter": exporter,
            "dynamic_batch": dynamic_batch,
            "created_utc": utc_now(),
            "versions": toolkit_versions(),
            "pytorch_metrics": dict(pytorch_metrics),
            "extra": dict(extra_manifest or {}),
        }
        square = None
        if norm == "linf":
            square = square_record(
                reference, probes, eps=float(eps), queries=square_queries, points=square_points, seed=seed
            )
        if square is not None:
            fields["square"] = square
        manifest = make_manifest(
            staging,
            image_shape=shape,
            class_names=class_names,
            eps=float(eps),
            norm=norm,
            formats=meta,
            probes=probes,
            dynamic_batch=dynamic_batch,
            fields=fields,
        )
        write_manifest(staging, manifest)
    return out_dir
