"""Shared pieces of the zoo's entry points: default cfgs as data, and building a model from timm's kwargs."""

from __future__ import annotations

import inspect
from typing import Any

from compressor.errors import UserInputError

from ._base import ZooClassifier

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2471, 0.2435, 0.2616)
MNIST_MEAN = (0.1307,)
MNIST_STD = (0.3081,)

# Keys timm's create_model may pass that a zoo model without a matching argument silently ignores.
_TIMM_EXTRAS = frozenset(
    {"pretrained_cfg", "pretrained_cfg_overlay", "cache_dir", "drop_rate", "drop_path_rate", "global_pool"}
)


def zoo_cfg(
    *,
    input_size: tuple[int, int, int],
    mean: tuple[float, ...],
    std: tuple[float, ...],
    first_conv: str,
    classifier: str,
    description: str,
    num_classes: int = 10,
) -> dict[str, Any]:
    """A timm pretrained_cfg dict (no weights): the input size and normalisation the architecture expects."""
    return {
        "input_size": input_size,
        "num_classes": num_classes,
        "mean": mean,
        "std": std,
        "interpolation": "bilinear",
        "crop_pct": 1.0,
        "first_conv": first_conv,
        "classifier": classifier,
        "description": description,
    }


def _per_channel(values: tuple[float, ...], in_chans: int) -> tuple[float, ...]:
    """Stats for `in_chans` channels: as given when they fit, else their average repeated."""
    if len(values) == in_chans:
        return values
    return (round(sum(values) / len(values), 4),) * in_chans


def build_zoo_model(
    cls: type[ZooClassifier],
    name: str,
    cfg: dict[str, Any],
    pretrained: bool,
    kwargs: dict[str, Any],
    **arch: Any,
) -> ZooClassifier:
    """Build `cls` from timm-style kwargs and attach its cfg, adapted to the requested classes and channels."""
    if pretrained:
        raise UserInputError(
            f"model '{name}' has no pretrained weights in compressor; set pretrained: false and give "
            "a checkpoint file (ours, or a RobustBench one with checkpoint_format: robustbench)"
        )
    accepted = set(inspect.signature(cls).parameters)
    options = {k: v for k, v in kwargs.items() if k in accepted or k not in _TIMM_EXTRAS}
    unknown = sorted(set(options) - accepted)
    if unknown:
        valid = ", ".join(sorted(accepted - set(arch)))
        raise UserInputError(
            f"model '{name}' has no argument {', '.join(unknown)}; fix its kwargs (it accepts: {valid}; "
            "an override of the model's name keeps the recipe's kwargs: give its own too, e.g. kwargs={})"
        )
    options.setdefault("num_classes", cfg["num_classes"])
    options.setdefault("in_chans", cfg["input_size"][0])
    model = cls(**arch, **options)
    in_chans, num_classes = options["in_chans"], options["num_classes"]
    model.pretrained_cfg = {
        **cfg,
        "architecture": name,
        "input_size": (in_chans, *cfg["input_size"][1:]),
        "num_classes": num_classes,
        "mean": _per_channel(cfg["mean"], in_chans),
        "std": _per_channel(cfg["std"], in_chans),
    }
    model.default_cfg = model.pretrained_cfg
    return model
