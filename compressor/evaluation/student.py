"""Evaluate a model the way a recipe's `evaluate` section says: the one function the evaluate stage and
`compressor evaluate` (on a recipe or a weights file) both run, so their numbers are the same."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from torch import nn

from compressor.config.schema import Recipe
from compressor.console import ProgressDisplay
from compressor.data.bundle import DataBundle
from compressor.data.sources import as_float
from compressor.evaluation.curve import robust_vs_eps
from compressor.evaluation.output import write_evaluation
from compressor.evaluation.result import EvaluationResult
from compressor.evaluation.robustness import AttackSettings, evaluate_robustness
from compressor.models.clip import ZeroShotClassifier
from compressor.models.wrapper import unwrap

CURVE_FILE, ZERO_SHOT_FILE = "robust_vs_eps.json", "zero_shot.json"  # beside evaluation.json


def evaluate_recipe_model(
    model: nn.Module,
    data: DataBundle,
    recipe: Recipe,
    out: Path,
    device: torch.device,
    console: Console | None = None,
) -> tuple[EvaluationResult, dict[str, Any] | None]:
    """Clean, every attack of the recipe and the per-sample worst case on its test split (plus the eps curve
    and, for a CLIP model, zero-shot accuracy on other data sets), written to `out`."""
    cfg = recipe.evaluate
    n = min(cfg.num_images, len(data.test))
    x, y = as_float(data.test.x[:n]), data.test.y[:n]
    eps, norm = recipe.evaluation_threat()
    with torch.inference_mode(False), ProgressDisplay(console) as progress:
        result = evaluate_robustness(
            model,
            x,
            y,
            attacks=cfg.attacks,
            settings=AttackSettings(
                eps=eps, norm=norm, batch_size=cfg.batch_size, seed=recipe.run.seed, device=device
            ),
            sanity_checks=cfg.sanity_checks,
            progress=progress,
        )
    write_evaluation(result, out)
    if cfg.eps_curve:
        curve = robust_vs_eps(model, x, y, list(cfg.eps_curve), out_dir=out, norm=norm, device=device)
        (out / CURVE_FILE).write_text(json.dumps(curve, indent=2) + "\n")  # for the report
    zero_shot = None
    if cfg.zero_shot and isinstance(unwrap(model), ZeroShotClassifier):
        zero_shot = _zero_shot(recipe, model, out)
    return result, zero_shot


def _zero_shot(recipe: Recipe, model: nn.Module, out: Path) -> dict[str, Any]:
    """A CLIP model's zero-shot clean / robust accuracy on other data sets, with their own class names."""
    from compressor.data.loading import load_data
    from compressor.evaluation.zero_shot import zero_shot_attacks, zero_shot_eval

    cfg = recipe.evaluate
    datasets = {}
    for index, data_cfg in enumerate(cfg.zero_shot):
        data = load_data(data_cfg, recipe.run.seed)
        n = min(cfg.num_images, len(data.test))
        name = data_cfg.dataset if data_cfg.dataset not in datasets else f"{data_cfg.dataset}-{index}"
        datasets[name] = (as_float(data.test.x[:n]), data.test.y[:n], data.class_names)
    results = zero_shot_eval(
        model,
        datasets,
        eps_list=tuple(cfg.zero_shot_eps),
        attacks=zero_shot_attacks(cfg.attacks),
        batch_size=cfg.batch_size,
        seed=recipe.run.seed,
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / ZERO_SHOT_FILE).write_text(json.dumps(results, indent=2))
    return results
