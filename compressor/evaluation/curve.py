"""Robust accuracy as a function of eps, and its plot (robust_vs_eps.png)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from compressor.attacks import get_attack
from compressor.attacks.base import Norm, predict
from compressor.evaluation.robustness import model_device
from compressor.models.modes import eval_mode


def robust_vs_eps(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps_list: list[float],
    attack: str = "pgd20",
    *,
    norm: Norm = "linf",
    batch_size: int = 256,
    seed: int = 0,
    device: torch.device | str | None = None,
    out_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Robust accuracy of ``attack`` at each eps (ascending); with ``out_dir``, also robust_vs_eps.png there."""
    spec = get_attack(attack)
    device = torch.device(device) if device is not None else model_device(model)
    x, y = x.detach().cpu().float(), y.detach().cpu().long()
    eps_sorted = sorted(float(e) for e in eps_list)
    accuracy = []
    with eval_mode(model, channels_last=True):
        correct = torch.cat(
            [
                predict(model, xb.to(device)).cpu() == yb
                for xb, yb in zip(x.split(batch_size), y.split(batch_size), strict=True)
            ]
        )
        index = correct.nonzero().squeeze(1)
        for eps in eps_sorted:
            res = spec(
                model, x[index], y[index], eps=eps, norm=norm, seed=seed, batch_size=batch_size, device=device
            )
            accuracy.append(float(res.robust.sum()) / max(len(y), 1))
    curve = {
        "attack": spec.name,
        "norm": norm,
        "n": len(y),
        "clean_accuracy": float(correct.float().mean()),
        "eps": eps_sorted,
        "robust_accuracy": accuracy,
    }
    if out_dir is not None:
        curve["plot"] = str(plot_robust_vs_eps(curve, Path(out_dir) / "robust_vs_eps.png"))
    return curve


def plot_robust_vs_eps(curve: dict[str, Any], path: str | Path) -> Path:
    """Save the curve from :func:`robust_vs_eps` as a PNG (Agg backend, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(
        [0.0, *curve["eps"]],
        [100 * curve["clean_accuracy"], *(100 * a for a in curve["robust_accuracy"])],
        marker="o",
    )
    ax.set_xlabel(f"eps ({curve['norm']})")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"{curve['attack']} robust accuracy, {curve['n']} images")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
