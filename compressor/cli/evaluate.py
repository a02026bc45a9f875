"""`compressor evaluate`: robustness of a run's student, a recipe's model, or a weights file.

Options become recipe overrides (`--eps 8/255` is `evaluate.eps=8/255`), so they are checked like any
recipe. On a run directory this runs the pipeline's evaluate stage itself; elsewhere the same function.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from compressor.console import make_console
from compressor.errors import EXIT_GATE_FAILED, EXIT_OK, UserInputError
from compressor.recipe_loading import load_recipe


def evaluation_overrides(
    attacks: str | None, eps: str | None, norm: str | None, n: int | None, eps_curve: str | None
) -> list[str]:
    """The command's options as `evaluate.*` recipe overrides."""
    overrides = []
    if attacks:
        overrides.append(f"evaluate.attacks=[{attacks}]")
    if eps:
        overrides.append(f"evaluate.eps={eps}")
    if norm:
        overrides.append(f"evaluate.norm={norm}")
    if n is not None:
        overrides.append(f"evaluate.num_images={n}")
    if eps_curve:
        overrides.append(f"evaluate.eps_curve=[{eps_curve}]")
    return overrides


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
    allow_plugins: Collection[str] = (),
) -> int:
    """Evaluate and write evaluation.json / .md (and the eps plot); exit 1 if a sanity check failed."""
    overrides = evaluation_overrides(attacks, eps, norm, n, eps_curve)
    path = Path(target)
    if (path / "recipe.yaml").is_file() and out is None:
        return _evaluate_run(path, overrides, allow_plugins)
    from compressor.data.loading import load_data
    from compressor.engine.precision import resolve_device
    from compressor.evaluation import print_evaluation
    from compressor.evaluation.student import evaluate_recipe_model
    from compressor.models.build import build_model, data_info
    from compressor.pipeline.artifacts import load_student
    from compressor.rundir import RunDir

    if (path / "recipe.yaml").is_file():
        run = RunDir(path)
        rec = load_recipe(run.recipe, overrides, allow_plugins=allow_plugins)
        device, data = resolve_device(rec.run.device), load_data(rec.data, rec.run.seed)
        model = load_student(run, rec, device)
    elif path.suffix in (".yaml", ".yml"):
        rec = load_recipe(path, overrides, allow_plugins=allow_plugins)
        device, data = resolve_device(rec.run.device), load_data(rec.data, rec.run.seed)
        model = build_model(rec.student, data_info(data)).to(device)
    elif path.is_file():
        if recipe is None:
            raise UserInputError(
                f"'{path}' is a weights file: pass --recipe RECIPE to say which model and data it is"
            )
        rec = load_recipe(recipe, overrides, allow_plugins=allow_plugins)
        device, data = resolve_device(rec.run.device), load_data(rec.data, rec.run.seed)
        spec = rec.student.model_copy(update={"checkpoint": path})
        model = build_model(spec, data_info(data)).to(device)
    else:
        raise UserInputError(f"'{target}' is not a run directory, a recipe or a weights file")
    result, _ = evaluate_recipe_model(model.eval(), data, rec, out or Path("evaluation"), device)
    print_evaluation(result)
    return EXIT_GATE_FAILED if not result.passed else EXIT_OK


def _evaluate_run(run_dir: Path, overrides: list[str], allow_plugins: Collection[str]) -> int:
    """The evaluate stage of a run, re-run with its saved recipe (plus the options); its table printed."""
    from compressor.cli.run_commands import run_stage_on
    from compressor.pipeline.stage import read_output, stage_output

    run = run_stage_on(run_dir, "evaluate", overrides, allow_plugins)
    make_console().print(stage_output(run, "evaluate", "table").read_text())
    checks = read_output(run, "evaluate", "evaluation").get("sanity_checks", [])
    return EXIT_OK if all(check["passed"] for check in checks) else EXIT_GATE_FAILED
