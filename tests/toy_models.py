"""A digits classifier trained in seconds on a CPU: the test model behind the attack tests and benchmarks (not shipped).

scikit-learn's 8x8 digits ship with a dependency, so this runs offline anywhere. ``adversarial_eps > 0``
trains with PGD-5 (through :func:`compressor.attacks.ascent.maximize`), which gives a model with real,
non-trivial robust accuracy to evaluate.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from compressor.attacks.ascent import maximize
from compressor.data.sources import digits


class DigitsCNN(nn.Module):
    """conv16 - conv32/2 - fc64 - fc10 on [B,1,8,8] pixels in [0,1]."""

    def __init__(self, width: int = 16, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(2 * width * 16, 64),
            nn.ReLU(),
        )
        self.head = nn.Linear(64, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Logits [B, 10]."""
        return self.head(self.features(x))


def digits_tensors() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(x_train, y_train, x_test, y_test) of the project's fixed digits split, float [0,1]."""
    train, test, _ = digits()
    return train.x.float(), train.y, test.x.float(), test.y


def _ce(model: nn.Module, y: Tensor) -> Callable[[Tensor], Tensor]:
    return lambda x_adv: F.cross_entropy(model(x_adv), y, reduction="none")


def train_digits_cnn(
    *, epochs: int = 15, adversarial_eps: float = 0.0, width: int = 16, seed: int = 0
) -> tuple[DigitsCNN, Tensor, Tensor]:
    """Train a DigitsCNN (eval mode on return) and give back the test images and labels."""
    x_train, y_train, x_test, y_test = digits_tensors()
    with torch.random.fork_rng():  # seeded, without touching the caller's global RNG state
        torch.manual_seed(seed)
        model = DigitsCNN(width)
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        order = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            for index in torch.randperm(len(y_train), generator=order).split(64):
                x, y = x_train[index], y_train[index]
                if adversarial_eps > 0:
                    model.eval()
                    x = maximize(_ce(model, y), x, eps=adversarial_eps, alpha=adversarial_eps / 2, steps=5)
                    model.train()
                loss = F.cross_entropy(model(x), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
    return model.eval(), x_test, y_test
