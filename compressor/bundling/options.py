"""What export_bundle takes besides the model: the images it uses and the options that shape the bundle."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from compressor.bundling.inputs import ArrayLike
    from compressor.bundling.onnx_export import Exporter


@dataclass(frozen=True, kw_only=True)
class ExportImages:
    """The images an export uses, as [N, C, H, W] pixels in [0, 1] (numpy or torch).

    The probes (clean images, their labels and their adversarial images crafted on the PyTorch model) go
    into the bundle; int8 calibrates on the calibration images (plus their adversarial images when given);
    the int8 held-out images (never the probes), their adversarial images and labels, all three, turn on
    robustness-aware int8 together with `ExportOptions.int8_max_robust_drop`.
    """

    probe_images: ArrayLike
    probe_labels: ArrayLike
    probe_adversarial_images: ArrayLike
    calibration_images: ArrayLike | None = None
    adversarial_calibration_images: ArrayLike | None = None
    int8_robust_images: ArrayLike | None = None
    int8_robust_adversarial_images: ArrayLike | None = None
    int8_robust_labels: ArrayLike | None = None


@dataclass(frozen=True, kw_only=True)
class ExportOptions:
    """How to export: formats, ONNX export, int8 quantisation, the Square record and the probes' crafting.

    The fields follow the recipe's `export` section (`int8_tensorrt` is its `tensorrt.enabled`). int8
    writes the CPU runtimes' U8S8 file (7-bit weights when `int8_reduce_range` says so; "auto": when this
    CPU lacks VNNI) and, with `int8_tensorrt`, TensorRT's symmetric file beside it. With held-out images
    and `int8_max_robust_drop`, layers whose quantisation costs more robust accuracy than that stay in
    float. With an L-inf threat model, PyTorch's Square accuracy (`square_queries` per image, `seed`) on up
    to `square_points` probes goes into the manifest (and the robust-int8 gate attacks as many held-out points). `probe_attack` and `num_probes` are for the callers
    that craft the probes (`compressor.export`, the export stage); export_bundle takes the probes it is given.
    """

    formats: Sequence[str] = ("fp32", "fp16", "int8")
    opset: int = 18
    dynamic_batch: bool = True
    exporter: Exporter = "dynamo"
    int8_calibration_method: str = "minmax"
    int8_reduce_range: bool | str = "auto"
    int8_tensorrt: bool = False
    int8_max_robust_drop: float | None = None
    square_queries: int = 100
    square_points: int = 12
    seed: int = 0
    probe_attack: str = "pgd20"
    num_probes: int = 256
