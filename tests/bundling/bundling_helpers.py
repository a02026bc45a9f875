"""Helpers of the export tests (a module with a unique name: test modules must not import conftest)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from compressor.models.wrapper import Normalized

EPS = 0.1


def make_cnn() -> nn.Module:
    """A 1-channel 8x8 classifier with BatchNorm, wrapped so it takes [0, 1] pixels."""
    net = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1, stride=2),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 10),
    )
    return Normalized(net, mean=[0.3], std=[0.35])


def pgd(model: nn.Module, x: Tensor, y: Tensor, eps: float = EPS, steps: int = 10) -> Tensor:
    """L-inf PGD with a random start (the probes and the calibration attack of these tests)."""
    generator = torch.Generator().manual_seed(0)
    adv = (x + torch.empty_like(x).uniform_(-eps, eps, generator=generator)).clamp(0, 1)
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = nn.functional.cross_entropy(model(adv), y)
        (grad,) = torch.autograd.grad(loss, adv)
        adv = torch.min(torch.max(adv.detach() + 2.5 * eps / steps * grad.sign(), x - eps), x + eps).clamp(
            0, 1
        )
    return adv.detach()


def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """Top-1 accuracy of a PyTorch model."""
    with torch.inference_mode():
        return float((model(x).argmax(1) == y).float().mean())


def sha_tree(root: Path) -> dict[str, str]:
    """SHA-256 of every file under root, by relative path."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


def with_options(args: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """export_bundle's keyword arguments `args` with these ExportOptions fields changed."""
    return {**args, "options": replace(args["options"], **changes)}


def with_images(args: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """export_bundle's keyword arguments `args` with these ExportImages fields changed."""
    return {**args, "images": replace(args["images"], **changes)}
