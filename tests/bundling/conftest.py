"""A small CNN adversarially trained for a few seconds on scikit-learn's digits, and PGD probes for it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from bundling_helpers import EPS, make_cnn, pgd, with_options
from torch import Tensor, nn


@pytest.fixture(scope="session")
def digits() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Train / test split of the 8x8 digits as [0, 1] float images."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(data.target, dtype=torch.int64)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    x, y = x[order], y[order]
    return x[:1400], y[:1400], x[1400:], y[1400:]


@pytest.fixture(scope="session")
def trained_cnn(digits) -> nn.Module:
    """make_cnn after 6 epochs of PGD-3 adversarial training (one thread: faster for so small a net)."""
    torch.manual_seed(0)
    x_train, y_train, _, _ = digits
    model = make_cnn()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _train(model, optimiser, x_train, y_train, epochs=6)
    finally:
        torch.set_num_threads(threads)
    return model.eval()


def _train(
    model: nn.Module, optimiser: torch.optim.Optimizer, x_train: Tensor, y_train: Tensor, epochs: int
) -> None:
    for _ in range(epochs):
        for start in range(0, len(x_train), 64):
            xb, yb = x_train[start : start + 64], y_train[start : start + 64]
            model.eval()
            adv = pgd(model, xb, yb, steps=3)
            model.train()
            loss = nn.functional.cross_entropy(model(torch.cat([xb, adv])), torch.cat([yb, yb]))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()


@pytest.fixture(scope="session")
def bundle_args(trained_cnn: nn.Module, digits) -> dict[str, Any]:
    """export_bundle keyword arguments for the trained CNN: 128 probes, 256 calibration images."""
    from compressor.bundling import ExportImages, ExportOptions

    x_train, _, x_test, y_test = digits
    probes, labels = x_test[:128], y_test[:128]
    images = ExportImages(
        probe_images=probes,
        probe_labels=labels,
        probe_adversarial_images=pgd(trained_cnn, probes, labels),
        calibration_images=x_train[:256],
    )
    return {
        "images": images,
        "class_names": [str(d) for d in range(10)],
        "eps": EPS,
        "norm": "linf",
        "pytorch_metrics": {"clean_acc": 0.9, "pgd10_acc": 0.5},
        # PyTorch's Square record costs seconds per export; cnn_bundle has one
        "options": ExportOptions(square_queries=0),
    }


@pytest.fixture(scope="session")
def cnn_bundle(trained_cnn: nn.Module, bundle_args: dict[str, Any], tmp_path_factory) -> Path:
    """The trained CNN exported with all three formats and a 1000-query Square record (read-only)."""
    from compressor.bundling import export_bundle

    args = with_options(bundle_args, square_queries=1000)
    return export_bundle(trained_cnn, tmp_path_factory.mktemp("cnn") / "bundle", **args)
