"""Semantic checks beyond the schema: model names, files, data folders, attack names."""

from __future__ import annotations

from pathlib import Path

from compressor.config import Recipe, load_recipe
from compressor.config.schema import ModelSpec
from compressor.errors import UserInputError


def _check_model(spec: ModelSpec, where: str) -> None:
    from compressor.models import check_model_name

    try:
        check_model_name(spec)
    except UserInputError as err:
        raise UserInputError(f"{where}: {err}") from None
    if spec.checkpoint is not None and not Path(spec.checkpoint).is_file():
        raise UserInputError(
            f"{where}.checkpoint: file '{spec.checkpoint}' not found; fix the path or remove the key"
        )


def check_recipe(recipe: Recipe, source: str) -> list[str]:
    """Raise a one-line error for anything that would fail later for want of a name or a file.

    Returns warnings for what may legitimately be missing on this machine (a data folder that lives on the
    training cluster, or that a download will create).
    """
    warnings = []
    _check_model(recipe.student, f"{source}: student")
    for index, teacher in enumerate(recipe.teachers):
        _check_model(teacher.model, f"{source}: teachers.{index}.model")
        if teacher.train is None and not teacher.model.pretrained and teacher.model.checkpoint is None:
            raise UserInputError(
                f"{source}: teachers.{index} ({teacher.role}) has no weights: give it `train:`, "
                "`pretrained: true` or a `checkpoint:`"
            )
    data = recipe.data
    if data.root is not None and not Path(data.root).expanduser().is_dir():
        how = (
            "it will be downloaded"
            if data.download and data.dataset != "imagefolder"
            else "distill will stop until it exists"
        )
        warnings.append(f"{source}: data.root '{data.root}' is not a folder on this machine ({how})")
    from compressor_edge.tolerances import VerifyTolerances

    try:
        VerifyTolerances.from_dict(recipe.verify.tolerances)
    except ValueError as err:
        raise UserInputError(f"{source}: verify.tolerances: {err}") from None
    from compressor.attacks import attack_names

    unknown = [a for a in recipe.evaluate.attacks if a not in attack_names()]
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], attack_names(), n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"choose from {', '.join(attack_names())}"
        raise UserInputError(f"{source}: evaluate.attacks: unknown attack '{unknown[0]}'; {hint}")
    return warnings


def validate_recipe(path: Path, overrides: list[str]) -> tuple[Recipe, list[str]]:
    """Load and fully check a recipe; return it with any warnings."""
    recipe = load_recipe(path, overrides)
    return recipe, check_recipe(recipe, str(path))
