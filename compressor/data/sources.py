"""Data sets as tensors: scikit-learn digits, torchvision's MNIST / Fashion-MNIST / CIFAR, synthetic."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from compressor.data.class_names import DIGIT_NAMES
from compressor.errors import UserInputError

if TYPE_CHECKING:
    from compressor.config.schema import DataConfig


@dataclass
class Split:
    """Images (uint8 0..255 or float 0..1, [N,C,H,W]) and labels of one split, kept on the CPU."""

    x: Tensor
    y: Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, index: Tensor) -> Split:
        """The samples at `index`."""
        return Split(self.x[index], self.y[index])


def as_float(x: Tensor) -> Tensor:
    """uint8 pixels to float [0,1]; float input passes through."""
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


def digits() -> tuple[Split, Split, list[str]]:
    """scikit-learn's bundled 8x8 digits (1797 images), split 80/20 with a fixed seed."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.from_numpy(bunch.images.astype(np.float32) / 16.0).unsqueeze(1)
    y = torch.from_numpy(bunch.target.astype(np.int64))
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(20240901))
    n_test = len(y) // 5
    return (
        Split(x[order[n_test:]], y[order[n_test:]]),
        Split(x[order[:n_test]], y[order[:n_test]]),
        DIGIT_NAMES,
    )


def _torchvision(cfg: DataConfig, class_name: str, train: bool):  # type: ignore[no-untyped-def]
    import torchvision.datasets as tvd

    root = Path(str(cfg.root)).expanduser()
    try:
        return getattr(tvd, class_name)(str(root), train=train, download=cfg.download)
    except RuntimeError as exc:
        hint = "set data.download: true where a network exists" if not cfg.download else "check the network"
        raise UserInputError(
            f"{cfg.dataset} not found under '{root}' ({str(exc).splitlines()[0]}); {hint}, "
            f"or point data.root at the folder that holds it"
        ) from None


def torchvision_tensors(cfg: DataConfig, class_name: str) -> tuple[Split, Split, list[str]]:
    """A torchvision data set (e.g. `FashionMNIST`) as uint8 tensors [N,C,H,W] and its class names."""
    out = []
    for train in (True, False):
        ds = _torchvision(cfg, class_name, train)
        data = torch.as_tensor(np.asarray(ds.data))
        data = data.unsqueeze(1) if data.dim() == 3 else data.permute(0, 3, 1, 2)
        out.append(Split(data.contiguous(), torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)))
        names = list(getattr(ds, "classes", []))
    return out[0], out[1], names


def synthetic(cfg: DataConfig, seed: int = 0) -> tuple[Split, Split, list[str]]:
    """Learnable random data: each class is a fixed random template plus noise."""
    s = cfg.synthetic
    gen = torch.Generator().manual_seed(seed)
    templates = torch.rand(s.num_classes, s.channels, s.image_size, s.image_size, generator=gen)

    def make(n: int) -> Split:
        y = torch.randint(0, s.num_classes, (n,), generator=gen)
        noise = torch.rand(n, s.channels, s.image_size, s.image_size, generator=gen)
        return Split((0.6 * templates[y] + 0.4 * noise).clamp(0, 1), y)

    return make(s.train_size), make(s.test_size), [f"class_{i}" for i in range(s.num_classes)]
