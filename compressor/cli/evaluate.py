"""`compressor evaluate`: robustness of a run's student, a recipe's model, or a weights file."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from compressor.config import load_recipe
from compressor.config.numbers import parse_number
from compressor.errors import EXIT_GATE_FAILED, EXIT_OK, UserInputError


def _number(text: str, option: str) -> float:
    try:
        return float(parse_number(text.strip()))
    except (TypeError, ValueError):
        raise UserInputError(f"{option}: '{text}' is not a number (write e.g. 8/255 or 0.031)") from None


def _norm(text: str) -> Literal["linf", "l2"]:
    if text == "linf":
        return "linf"
    if text == "l2":
        return "l2"
    raise UserInputError(f"--norm: '{text}' is not a norm; use linf or l2")


def evaluate_command(
    target: str,
    *,
    recipe: str | None,
    attacks: str | None,
    eps: str | None,
    norm: str | None,
    n: int | None,
    eps_curve: str | None,
    out: Path | None,
) -> int:
    """Evaluate and write evaluation.json / .md (and the eps plot); exit 1 if a sanity check failed."""
    import torch

    from compressor.data import load_data
    from compressor.data.sources import as_float
    from compressor.engine.precision import resolve_device
    from compressor.evaluation import evaluate_robustness, print_evaluation, robust_vs_eps, write_evaluation
    from compressor.pipeline.build import build_model, data_info, load_student
    from compressor.pipeline.rundir import RunDir

    path = Path(target)
    if (path / "recipe.yaml").is_file():
        run = RunDir(path)
        rec = load_recipe(run.recipe)
        device = resolve_device(rec.run.device)
        model, data = load_student(run, rec, device), load_data(rec.data, rec.run.seed)
        out = out or run.stage("evaluate")
    elif path.suffix in (".yaml", ".yml"):
        rec = load_recipe(path)
        device, data = resolve_device(rec.run.device), load_data(rec.data, rec.run.seed)
        model = build_model(rec.student, data_info(data)).to(device)
    elif path.is_file():
        if recipe is None:
            raise UserInputError(
                f"'{path}' is a weights file: pass --recipe RECIPE to say which model and data it is"
            )
        rec = load_recipe(recipe)
        device, data = resolve_device(rec.run.device), load_data(rec.data, rec.run.seed)
        spec = rec.student.model_copy(update={"checkpoint": path})
        model = build_model(spec, data_info(data)).to(device)
    else:
        raise UserInputError(f"'{target}' is not a run directory, a recipe or a weights file")
    model.eval()
    out = out or Path("evaluation")
    cfg = rec.evaluate
    names = [a.strip() for a in attacks.split(",")] if attacks else cfg.attacks
    radius = _number(eps, "--eps") if eps else float(cfg.eps if cfg.eps is not None else rec.attack.eps)
    chosen_norm = _norm(norm or cfg.norm or rec.attack.norm)
    count = min(n or cfg.num_images, len(data.test))
    x, y = as_float(data.test.x[:count]), data.test.y[:count]
    with torch.inference_mode(False):
        result = evaluate_robustness(
            model,
            x,
            y,
            attacks=names,
            eps=radius,
            norm=chosen_norm,
            batch_size=cfg.batch_size,
            seed=rec.run.seed,
            sanity_checks=cfg.sanity_checks,
            device=device,
        )
    write_evaluation(result, out)
    curve = [_number(e, "--eps-curve") for e in eps_curve.split(",")] if eps_curve else list(cfg.eps_curve)
    if curve:
        robust_vs_eps(model, x, y, curve, out_dir=out, norm=chosen_norm, device=device)
    print_evaluation(result)
    return EXIT_GATE_FAILED if not result.passed else EXIT_OK
