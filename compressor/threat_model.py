"""The threat model checked at load: every radius finite and inside the input range it perturbs.

Images are [0,1] pixels, so an L-inf radius of 1 or more lets the attack reach any image (robust accuracy
means nothing), and an L2 radius at or past the image's diameter sqrt(C*H*W) likewise. Such a recipe is
refused before anything trains; a radius past half of that range only warns (it is legal, but rarely meant).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from compressor.config.schema import DataConfig, Recipe
from compressor.data.registry import get_dataset
from compressor.errors import UserInputError

_NAMES = {"linf": "L-inf", "l2": "L2"}
_UNKNOWN_SIZE = 3 * 2048 * 2048  # an ImageFolder at its native size: the bound then stays generous


def input_values(data: DataConfig) -> int:
    """C*H*W of the model's input for this data set, from the data-set registry (a generous bound when
    only the image files know it, e.g. an ImageFolder at its native size)."""
    if data.dataset == "synthetic":
        return data.synthetic.channels * data.synthetic.image_size**2
    channels, side = get_dataset(data.dataset).geometry(data)
    if side is None:
        return _UNKNOWN_SIZE
    return (channels or 3) * side**2


def _radii(recipe: Recipe) -> Iterator[tuple[str, float, str, float]]:
    """(YAML path, radius, norm, the norm's bound) of every eps the recipe holds."""
    diameter = math.sqrt(input_values(recipe.data))
    bound = {"linf": 1.0, "l2": diameter}
    yield "attack.eps", recipe.attack.eps, recipe.attack.norm, bound[recipe.attack.norm]
    for index, teacher in enumerate(recipe.teachers):
        attack = teacher.train.attack if teacher.train is not None else None
        if attack is not None:
            yield f"teachers.{index}.train.attack.eps", attack.eps, attack.norm, bound[attack.norm]
    _, norm = recipe.evaluation_threat()
    if recipe.evaluate.eps is not None:
        yield "evaluate.eps", recipe.evaluate.eps, norm, bound[norm]
    for index, eps in enumerate(recipe.evaluate.eps_curve):
        yield f"evaluate.eps_curve.{index}", eps, norm, bound[norm]
    zero_shot = max((input_values(z) for z in recipe.evaluate.zero_shot), default=diameter**2)
    zero_shot_bound = {"linf": 1.0, "l2": math.sqrt(zero_shot)}[norm]
    for index, eps in enumerate(recipe.evaluate.zero_shot_eps):
        yield f"evaluate.zero_shot_eps.{index}", eps, norm, zero_shot_bound


def check_threat_model(recipe: Recipe, source: str) -> list[str]:
    """Refuse a radius that is not finite or reaches past the input range; warn about unusually large ones."""
    warnings = []
    for path, eps, norm, bound in _radii(recipe):
        unit = (
            "on [0,1] pixels"
            if norm == "linf"
            else f"over {round(bound**2)} input values (diameter {bound:.3g})"
        )
        what = f"{_NAMES[norm]} radius {unit}"
        if not math.isfinite(eps) or eps < 0:
            raise UserInputError(
                f"{source}: {path}: {eps} is not a radius; give a finite number >= 0, e.g. 8/255"
            )
        if eps >= bound:
            hint = f"; did you mean {eps:g}/255?" if norm == "linf" and eps < 256 else ""
            raise UserInputError(
                f"{source}: {path}: {eps:g} reaches every image (an {what} must be below {bound:.3g}){hint}"
            )
        if eps > bound / 2:
            warnings.append(f"{source}: {path}: {eps:g} is an unusually large {what}")
    return warnings
