"""Zero-shot clean and robust accuracy of a CLIP classifier on several datasets, one text head each.

Each dataset's class names go through the same machinery as training (``with_classes``: the model's own
frozen text tower, the same prompt templates), and the image tower is shared, so every number measures the
one trained encoder. Robust accuracy is the per-sample worst case over the attacks: each attack runs only
on the points that are still robust (as AutoAttack does), and every success is re-checked by a forward pass.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from compressor.attacks import get_attack
from compressor.models.clip import ZeroShotClassifier
from compressor.models.wrapper import unwrap

Dataset = tuple[Tensor, Tensor, Sequence[str]]
ZERO_SHOT_ATTACKS = ("apgd-ce", "apgd-t")  # the robust-CLIP protocol (TeCoA, FARE, MMT-ARD)


def zero_shot_attacks(requested: Sequence[str]) -> tuple[str, ...]:
    """The attacks zero-shot evaluation runs: the requested APGD ones, else both APGD attacks."""
    return tuple(a for a in requested if a in ZERO_SHOT_ATTACKS) or ZERO_SHOT_ATTACKS


def eps_label(eps: float) -> str:
    """'2/255' for 2/255, else the plain number."""
    scaled = eps * 255
    return f"{scaled:g}/255" if abs(scaled - round(scaled)) < 1e-6 else f"{eps:g}"


@torch.no_grad()
def _correct(model: ZeroShotClassifier, x: Tensor, y: Tensor, batch_size: int) -> Tensor:
    """Boolean mask of correct predictions, computed in batches on the model's device."""
    device = model.text_matrix.device
    parts = [model(xb.to(device)).argmax(1).cpu() for xb in x.split(batch_size)]
    return torch.cat(parts) == y.cpu()


def zero_shot_eval(
    model: torch.nn.Module,
    datasets: Mapping[str, Dataset],
    eps_list: Sequence[float] = (2 / 255, 4 / 255),
    attacks: Sequence[str] = ZERO_SHOT_ATTACKS,
    *,
    batch_size: int = 256,
    seed: int = 0,
    attack_options: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, float]]:
    """{dataset: {"clean": acc, "robust@<eps>": worst case over ``attacks``}} on [0,1] images.

    ``attack_options`` go to every attack (e.g. ``{"n_iter": 20}`` for a quick APGD run). Attacks that
    need more classes than a dataset has (APGD-T: 4) are skipped for it, with a warning.
    """
    base = unwrap(model)
    if not isinstance(base, ZeroShotClassifier):
        raise TypeError(f"zero-shot evaluation needs a ZeroShotClassifier, not {type(base).__name__}")
    specs = [get_attack(name) for name in attacks]
    results: dict[str, dict[str, float]] = {}
    for name, (x, y, class_names) in datasets.items():
        head = base.with_classes(class_names).eval()
        device = head.text_matrix.device
        usable = [s for s in specs if len(class_names) >= s.min_classes]
        if len(usable) < len(specs):
            skipped = ", ".join(s.name for s in specs if s not in usable)
            warnings.warn(f"zero-shot '{name}': {skipped} skipped ({len(class_names)} classes)", stacklevel=2)
        clean = _correct(head, x, y, batch_size)
        row = {"clean": clean.float().mean().item()}
        for eps in eps_list:
            robust = clean.clone()
            for spec in usable:
                idx = robust.nonzero().squeeze(1)
                if idx.numel() == 0:
                    break
                result = spec(
                    head,
                    x[idx],
                    y[idx],
                    eps=float(eps),
                    seed=seed,
                    batch_size=batch_size,
                    device=device,
                    **(attack_options or {}),
                )
                still = result.robust.cpu() & _correct(head, result.x_adv, y[idx], batch_size)
                robust[idx] = still
            row[f"robust@{eps_label(float(eps))}"] = robust.float().mean().item()
        results[name] = row
    return results
