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

from compressor.bundling.atomic import staged_dir
from compressor.bundling.inputs import (
    ArrayLike,
    as_images,
    as_labels,
    check_options,
    check_threat,
    output_classes,
)
from compressor.bundling.int8 import HeldOut, Int8Options, write_int8
from compressor.bundling.manifest import pytorch_logits, toolkit_versions, utc_now
from compressor.bundling.onnx_export import export_onnx
from compressor.bundling.options import ExportImages, ExportOptions
from compressor.bundling.parity import EXPORT_BOUNDS, check_parity
from compressor.bundling.square_probe import square_record
from compressor.errors import UserInputError
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
    images: ExportImages,
    *,
    class_names: Sequence[str],
    eps: float,
    norm: str,
    pytorch_metrics: Mapping[str, Any],
    options: ExportOptions = ExportOptions(),
    extra_manifest: Mapping[str, Any] | None = None,
    int8_progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Export, check every file against PyTorch, and write the bundle; an earlier bundle survives any failure.

    `images` are the probes (with their adversarial images under the `eps` / `norm` threat model) and the
    int8 calibration and held-out images; `options` (ExportOptions) choose the formats, the ONNX export,
    the int8 files and the Square record, whose PyTorch accuracy, budget and seconds go into the manifest
    for verify to run the same attack against. `int8_progress(tried, bound)` hears after each int8
    candidate the robustness-aware search scores.
    Raises UserInputError (exit 2) for bad arguments and ExportFailed (exit 3) when an exported file fails
    onnx's checker or disagrees with PyTorch on the probes.
    """
    out_dir, eps = Path(out_dir), float(eps)
    check_options(options.formats, class_names, pytorch_metrics)
    clean, adversarial = _probe_pair(images, eps, norm)
    calibration = _calibration(images, tuple(clean.shape[1:]))
    reference = _cpu_copy(model)
    probes = _probes(reference, clean, adversarial, images.probe_labels, class_names)
    with staged_dir(out_dir) as staging:
        fp32, opset = _write_fp32(reference, staging, clean, options)
        meta: dict[str, dict[str, Any]] = {"fp32": {"precision": "float32"}}
        if "fp16" in options.formats:
            convert_to_fp16(fp32, staging / FORMAT_FILES["fp16"])
            meta["fp16"] = {"precision": "float16 weights and arithmetic, float32 inputs and outputs"}
        if "int8" in options.formats:
            int8 = _int8_options(images, probes, eps, norm, options, int8_progress)
            meta["int8"] = write_int8(fp32, staging, *calibration, int8)
        _check_parity(staging, meta, probes)
        write_probes(staging, probes)
        fields = _manifest_fields(
            reference, probes, opset, eps, norm, pytorch_metrics, extra_manifest, options
        )
        manifest = make_manifest(
            staging,
            image_shape=tuple(clean.shape[1:]),
            class_names=class_names,
            eps=eps,
            norm=norm,
            formats=meta,
            probes=probes,
            dynamic_batch=options.dynamic_batch,
            fields=fields,
        )
        write_manifest(staging, manifest)
    return out_dir


def _probe_pair(images: ExportImages, eps: float, norm: str) -> tuple[np.ndarray, np.ndarray]:
    """The clean probes and their adversarial images, checked to pair up inside the threat model."""
    clean = as_images(images.probe_images, "probe_images")
    adversarial = as_images(images.probe_adversarial_images, "probe_adversarial_images", clean.shape[1:])
    if adversarial.shape[0] != clean.shape[0]:
        raise UserInputError("export: probe_adversarial_images must pair one-to-one with probe_images")
    check_threat(clean, adversarial, eps, norm)
    return clean, adversarial


def _calibration(images: ExportImages, shape: tuple[int, ...]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The clean and adversarial int8 calibration images, each None when not given."""
    clean, adversarial = images.calibration_images, images.adversarial_calibration_images
    return (
        None if clean is None else as_images(clean, "calibration_images", shape),
        None if adversarial is None else as_images(adversarial, "adversarial_calibration_images", shape),
    )


def _probes(
    reference: nn.Module,
    clean: np.ndarray,
    adversarial: np.ndarray,
    labels: ArrayLike,
    class_names: Sequence[str],
) -> Probes:
    """The probes with PyTorch's logits, once the model's outputs match the class names."""
    n_classes = output_classes(reference, clean)
    if n_classes != len(class_names):
        raise UserInputError(
            f"export: the model has {n_classes} outputs but {len(class_names)} class names were given"
        )
    return Probes(
        clean,
        as_labels(labels, len(clean), n_classes),
        adversarial,
        pytorch_logits(reference, clean),
        pytorch_logits(reference, adversarial),
    )


def _write_fp32(
    reference: nn.Module, staging: Path, clean: np.ndarray, options: ExportOptions
) -> tuple[Path, int]:
    """The fp32 ONNX file (traced on two probes, or one for a static batch) and the opset it got."""
    example = torch.from_numpy(clean[:2] if len(clean) >= 2 else np.repeat(clean, 2, axis=0))
    fp32 = staging / FORMAT_FILES["fp32"]
    opset = export_onnx(
        reference,
        fp32,
        example if options.dynamic_batch else example[:1],
        opset=options.opset,
        dynamic_batch=options.dynamic_batch,
        exporter=options.exporter,
    )
    return fp32, opset


def _int8_options(
    images: ExportImages,
    probes: Probes,
    eps: float,
    norm: str,
    options: ExportOptions,
    progress: Callable[[int, int], None] | None,
) -> Int8Options:
    """int8's options, with the held-out images for the robust-accuracy gate when all three are given."""
    robust = None
    x, x_adv, y = images.int8_robust_images, images.int8_robust_adversarial_images, images.int8_robust_labels
    if x is not None and x_adv is not None and y is not None:
        held = as_images(x, "int8_robust_images", probes.clean_images.shape[1:])
        adv = as_images(x_adv, "int8_robust_adversarial_images", held.shape[1:])
        labels = as_labels(y, len(held), probes.clean_logits.shape[1])
        queries = HELD_OUT_SQUARE_QUERIES if norm == "linf" else 0  # this Square attack is L-inf
        robust = HeldOut(held, adv, labels, eps, queries, options.square_points)
    return Int8Options(
        options.int8_calibration_method,
        options.int8_reduce_range,
        options.int8_tensorrt,
        robust,
        options.int8_max_robust_drop,
        progress,
    )


def _check_parity(staging: Path, meta: dict[str, dict[str, Any]], probes: Probes) -> None:
    """Every written file against PyTorch on the first clean and adversarial probes, into `meta`."""
    n = _PARITY_IMAGES
    sample = np.concatenate([probes.clean_images[:n], probes.adversarial_images[:n]])
    logits = np.concatenate([probes.clean_logits[:n], probes.adversarial_logits[:n]])
    for fmt in meta:
        for entry in [meta[fmt], *meta[fmt].get("alternates", [])]:
            name = entry.get("file", FORMAT_FILES[fmt])
            error = check_parity(staging / name, sample, logits, EXPORT_BOUNDS[fmt])
            entry["export_check"] = {"max_abs_logit_diff": error, "images": len(sample)}


def _manifest_fields(
    reference: nn.Module,
    probes: Probes,
    opset: int,
    eps: float,
    norm: str,
    pytorch_metrics: Mapping[str, Any],
    extra_manifest: Mapping[str, Any] | None,
    options: ExportOptions,
) -> dict[str, Any]:
    """The manifest's export record: the ONNX export, versions, metrics and PyTorch's Square record."""
    fields = {
        "opset": opset,
        "exporter": options.exporter,
        "dynamic_batch": options.dynamic_batch,
        "created_utc": utc_now(),
        "versions": toolkit_versions(),
        "pytorch_metrics": dict(pytorch_metrics),
        "extra": dict(extra_manifest or {}),
    }
    square = None
    if norm == "linf":  # this Square attack is L-inf
        square = square_record(
            reference,
            probes,
            eps=eps,
            queries=options.square_queries,
            points=options.square_points,
            seed=options.seed,
        )
    if square is not None:
        fields["square"] = square
    return fields
