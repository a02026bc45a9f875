"""The stages after training: evaluate the student, export the bundle, verify it on the runtimes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import torch

from compressor.config import section_hash
from compressor.config.schema import Recipe
from compressor.data import DataBundle
from compressor.data.sources import as_float
from compressor.pipeline.build import load_student
from compressor.pipeline.rundir import RunDir
from compressor.pipeline.train_stages import distill_hash

Norm = Literal["linf", "l2"]


def evaluate_hash(recipe: Recipe) -> str:
    return section_hash(distill_hash(recipe), recipe.evaluate)


def export_hash(recipe: Recipe) -> str:
    return section_hash(distill_hash(recipe), recipe.export, recipe.evaluate.eps)


def verify_hash(recipe: Recipe) -> str:
    return section_hash(export_hash(recipe), recipe.verify)


def eval_eps_norm(recipe: Recipe) -> tuple[float, Norm]:
    """The evaluation radius and norm: the evaluate section's, else the training attack's."""
    eps = recipe.evaluate.eps if recipe.evaluate.eps is not None else recipe.attack.eps
    return float(eps), recipe.evaluate.norm or recipe.attack.norm


def run_evaluate(recipe: Recipe, run: RunDir, data: DataBundle, device: torch.device) -> dict[str, Any]:
    """Clean, every requested attack and the per-sample worst case on the test split."""
    from compressor.evaluation import evaluate_robustness, robust_vs_eps, write_evaluation

    student = load_student(run, recipe, device)
    n = min(recipe.evaluate.num_images, len(data.test))
    x, y = as_float(data.test.x[:n]), data.test.y[:n]
    eps, norm = eval_eps_norm(recipe)
    cfg = recipe.evaluate
    result = evaluate_robustness(
        student,
        x,
        y,
        attacks=cfg.attacks,
        eps=eps,
        norm=norm,
        batch_size=cfg.batch_size,
        seed=recipe.run.seed,
        sanity_checks=cfg.sanity_checks,
        device=device,
    )
    out = run.stage("evaluate")
    write_evaluation(result, out)
    if cfg.eps_curve:
        robust_vs_eps(student, x, y, list(cfg.eps_curve), out_dir=out, norm=norm, device=device)
    summary = result.to_dict()
    if cfg.zero_shot and hasattr(student, "with_classes"):
        summary["zero_shot"] = _zero_shot(recipe, student, out)
    return summary


def _zero_shot(recipe: Recipe, student: torch.nn.Module, out: Path) -> dict[str, Any]:
    """A CLIP student's zero-shot clean / robust accuracy on other data sets, with their own class names."""
    from compressor.data import load_data
    from compressor.evaluation.zero_shot import zero_shot_eval

    cfg = recipe.evaluate
    datasets = {}
    for index, data_cfg in enumerate(cfg.zero_shot):
        data = load_data(data_cfg, recipe.run.seed)
        n = min(cfg.num_images, len(data.test))
        name = data_cfg.dataset if data_cfg.dataset not in datasets else f"{data_cfg.dataset}-{index}"
        datasets[name] = (as_float(data.test.x[:n]), data.test.y[:n], data.class_names)
    attacks = tuple(a for a in cfg.attacks if a in ("apgd-ce", "apgd-t")) or ("apgd-ce", "apgd-t")
    results = zero_shot_eval(
        student,
        datasets,
        eps_list=tuple(cfg.zero_shot_eps),
        attacks=attacks,
        batch_size=cfg.batch_size,
        seed=recipe.run.seed,
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "zero_shot.json").write_text(json.dumps(results, indent=2))
    return results


def _adversarial(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, norm: Norm
) -> torch.Tensor:
    from compressor.attacks import get_attack

    return get_attack("pgd20")(model, x, y, eps=eps, norm=norm).x_adv


def _held_out(data: DataBundle, calibration: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Validation images for robustness-aware int8: never trained on, never the probes or calibration set."""
    start = calibration if data.train is None else 0  # without a train split, calibration took val's head
    return as_float(data.val.x[start : start + n]), data.val.y[start : start + n]


def run_export(recipe: Recipe, run: RunDir, data: DataBundle, device: torch.device) -> dict[str, Any]:
    """Export the student to the edge bundle with clean and adversarial probes crafted in PyTorch."""
    from compressor.exporting import export_bundle

    student = load_student(run, recipe, "cpu")
    cfg, eps_norm = recipe.export, eval_eps_norm(recipe)
    pool = data.train if data.train is not None else data.val
    calib = as_float(pool.x[: cfg.calibration_images])
    probes_x = as_float(data.test.x[: cfg.num_probes])
    probes_y = data.test.y[: cfg.num_probes]
    probes_adv = _adversarial(student, probes_x, probes_y, *eps_norm)
    adv_calib = (
        _adversarial(student, calib, pool.y[: cfg.calibration_images], *eps_norm)
        if cfg.calibrate_on_adversarial
        else None
    )
    robust_x, robust_y = _held_out(data, cfg.calibration_images, cfg.int8_robust_images)
    robust_adv = (
        _adversarial(student, robust_x, robust_y, *eps_norm)
        if "int8" in cfg.formats and cfg.int8_max_robust_drop is not None
        else None
    )
    evaluation = run.stage("evaluate") / "evaluation.json"
    metrics = json.loads(evaluation.read_text()) if evaluation.is_file() else {}
    bundle = export_bundle(
        student,
        run.bundle,
        formats=tuple(cfg.formats),
        opset=cfg.opset,
        dynamic_batch=cfg.dynamic_batch,
        calibration_images=calib,
        adversarial_calibration_images=adv_calib,
        probe_images=probes_x,
        probe_labels=probes_y,
        probe_adversarial_images=probes_adv,
        class_names=data.class_names,
        eps=eps_norm[0],
        norm=eps_norm[1],
        pytorch_metrics=metrics,
        extra_manifest={
            "recipe": recipe.run.name,
            "student": recipe.student.name,
            "method": recipe.method.name,
        },
        exporter=cfg.exporter,
        int8_calibration_method=cfg.int8_calibration_method,
        int8_reduce_range=cfg.int8_reduce_range,
        int8_tensorrt=cfg.tensorrt.enabled,
        int8_robust_images=robust_x if robust_adv is not None else None,
        int8_robust_adversarial_images=robust_adv,
        int8_robust_labels=robust_y if robust_adv is not None else None,
        int8_max_robust_drop=cfg.int8_max_robust_drop,
        square_queries=cfg.square_queries,
        square_points=cfg.square_points,
        seed=recipe.run.seed,
    )
    return {"bundle": str(bundle), "formats": list(cfg.formats)}


def run_verify(recipe: Recipe, run: RunDir) -> dict[str, Any]:
    """Re-check the exported artifacts on the runtimes (the edge kit's own code)."""
    from compressor_edge.verify import VerifyTolerances, verify_bundle

    cfg, trt = recipe.verify, recipe.export.tensorrt
    report = verify_bundle(
        run.bundle,
        VerifyTolerances.from_dict(cfg.tolerances),
        formats=cfg.formats,
        backends=tuple(cfg.backends),
        square_queries=cfg.square_queries,
        seed=recipe.run.seed,
        batch_sizes=tuple(sorted(set(cfg.batch_sizes) | set(trt.batch_sizes if trt.enabled else ()))),
        latency_runs=cfg.latency_runs,
        threads=cfg.threads,
        allow_chance_reference=cfg.allow_chance_reference,
    )
    out = run.stage("verify")
    out.mkdir(parents=True, exist_ok=True)
    run.write_json(out / "verify.json", report.to_dict())
    (out / "verify.md").write_text(report.to_markdown())
    return report.to_dict()
