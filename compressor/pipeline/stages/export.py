"""The export stage: the student as an edge bundle, with clean and adversarial probes crafted in PyTorch."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

import torch
from compressor_edge.bundle import MANIFEST_FILE
from torch import nn

from compressor.config.schema import Recipe
from compressor.console import ProgressDisplay
from compressor.data.bundle import DataBundle
from compressor.data.sources import Split, as_float
from compressor.engine.cpu_bf16 import MEASURE_IMAGES
from compressor.pipeline.artifacts import load_student
from compressor.pipeline.stage import Stage, StageContext, StageResult, read_output

if TYPE_CHECKING:
    from compressor.bundling import ExportOptions


def _held_out(data: DataBundle, calibration: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Validation images for robustness-aware int8: never trained on, never the probes or calibration set."""
    start = calibration if data.train is None else 0  # without a train split, calibration took val's head
    return as_float(data.val.x[start : start + n]), data.val.y[start : start + n]


def _crafting_autocast(
    ctx: StageContext, student: nn.Module, pool: Split
) -> Callable[[], AbstractContextManager[Any]]:
    """Training's precision for the student, to craft the PGD probes in (bf16 where it paid; CPU runs only)."""
    if ctx.speed.device.type != "cpu":  # the student was trained elsewhere; here it runs on the CPU in fp32
        return nullcontext
    n = min(MEASURE_IMAGES, len(pool.y))
    speed = ctx.speed.for_model(student, as_float(pool.x[:n]), pool.y[:n])
    ctx.console.print(f"[dim]export: PGD probes crafted in {speed.precision} ({speed.reason})[/]")
    return speed.autocast()


def export_options(recipe: Recipe) -> ExportOptions:
    """The recipe's `export` section (and run seed) as export_bundle's options."""
    from compressor.bundling import ExportOptions  # onnx and the edge kit load when the stage runs

    cfg = recipe.export
    return ExportOptions(
        formats=tuple(cfg.formats),
        opset=cfg.opset,
        dynamic_batch=cfg.dynamic_batch,
        exporter=cfg.exporter,
        int8_calibration_method=cfg.int8_calibration_method,
        int8_reduce_range=cfg.int8_reduce_range,
        int8_tensorrt=cfg.tensorrt.enabled,
        int8_max_robust_drop=cfg.int8_max_robust_drop,
        square_queries=cfg.square_queries,
        square_points=cfg.square_points,
        seed=recipe.run.seed,
        probe_attack=cfg.probe_attack,
        num_probes=cfg.num_probes,
    )


def run_export(ctx: StageContext) -> StageResult:
    """Export the student to the edge bundle with clean and adversarial probes crafted in PyTorch."""
    from compressor.attacks import get_attack
    from compressor.bundling import ExportImages, export_bundle

    recipe, run, data = ctx.recipe, ctx.run, ctx.data
    student = load_student(run, recipe, "cpu")
    cfg, options = recipe.export, export_options(recipe)
    eps, norm = recipe.evaluation_threat()
    probe_attack = get_attack(options.probe_attack)
    pool = data.train if data.train is not None else data.val
    autocast = _crafting_autocast(ctx, student, pool)

    def adversarial(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with autocast():  # only where it makes points: every logit the bundle records is PyTorch's fp32
            return probe_attack(student, x, y, eps=eps, norm=norm).x_adv

    calib = as_float(pool.x[: cfg.calibration_images])
    probes_x = as_float(data.test.x[: options.num_probes])
    probes_y = data.test.y[: options.num_probes]
    probes_adv = adversarial(probes_x, probes_y)
    adv_calib = adversarial(calib, pool.y[: cfg.calibration_images]) if cfg.calibrate_on_adversarial else None
    robust_x, robust_y = _held_out(data, cfg.calibration_images, cfg.int8_robust_images)
    robust_aware = "int8" in options.formats and options.int8_max_robust_drop is not None
    images = ExportImages(
        probe_images=probes_x,
        probe_labels=probes_y,
        probe_adversarial_images=probes_adv,
        calibration_images=calib,
        adversarial_calibration_images=adv_calib,
        int8_robust_images=robust_x if robust_aware else None,
        int8_robust_adversarial_images=adversarial(robust_x, robust_y) if robust_aware else None,
        int8_robust_labels=robust_y if robust_aware else None,
    )
    metrics = read_output(run, "evaluate", "evaluation") or {}
    with ProgressDisplay(ctx.console) as progress:
        bundle = export_bundle(
            student,
            ctx.output("export", "bundle"),
            images,
            class_names=data.class_names,
            eps=eps,
            norm=norm,
            pytorch_metrics=metrics,
            options=options,
            extra_manifest={
                "recipe": recipe.run.name,
                "student": recipe.student.name,
                "method": recipe.method.name,
            },
            int8_progress=progress.counter("int8 candidates", "tried (robustness-aware search)"),
        )
    return StageResult({"bundle": str(bundle), "formats": list(cfg.formats)})


def _parts(recipe: Recipe) -> dict[str, object]:
    return {"export": recipe.export, "evaluate.eps": recipe.evaluate.eps}


STAGE = Stage(
    "export",
    run_export,
    _parts,
    needs=("distill",),
    uses=("evaluate",),  # PyTorch's metrics go into the manifest
    outputs={"bundle": "bundle/", "manifest": f"bundle/{MANIFEST_FILE}"},
    command="export",
    description="export the edge bundle",
)
