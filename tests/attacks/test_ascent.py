"""The projected-gradient engine: ball and box, input-only gradients, early drop-out, momentum."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from compressor.attacks.ascent import ascend, maximize, project, random_start
from compressor.attacks.base import lp_norm


def test_maximize_stays_in_ball_and_box_and_leaves_weights_alone(digits):
    model, x, y = digits
    for p in model.parameters():
        p.grad = None
    for norm, eps in (("linf", 0.1), ("l2", 1.0)):
        x_adv = maximize(
            lambda xa: F.cross_entropy(model(xa), y, reduction="none"),
            x,
            eps=eps,
            alpha=eps / 4,
            steps=5,
            norm=norm,
        )
        assert not x_adv.requires_grad
        assert float(lp_norm(x_adv - x, norm).max()) <= eps + 1e-5
        assert float(x_adv.min()) >= 0 and float(x_adv.max()) <= 1
        loss_adv = F.cross_entropy(model(x_adv), y)
        assert loss_adv > F.cross_entropy(model(x), y)
    assert all(p.grad is None for p in model.parameters())


def test_maximize_with_momentum_and_normal_start(digits):
    model, x, y = digits
    torch.manual_seed(0)
    x_adv = maximize(
        lambda xa: F.cross_entropy(model(xa), y, reduction="none"),
        x,
        eps=0.1,
        alpha=0.02,
        steps=5,
        init="normal",
        momentum=0.9,
    )
    assert float((x_adv - x).abs().max()) <= 0.1 + 1e-6
    assert F.cross_entropy(model(x_adv), y) > F.cross_entropy(model(x), y)


def test_ascend_freezes_points_at_the_iterate_that_was_done():
    x = torch.full((4, 1, 2, 2), 0.5)
    seen = []

    def objective(xa, index):
        seen.append(index.tolist())
        return xa.flatten(1).sum(1), index == 0  # row 0 is done at once

    out, done = ascend(objective, x, x.clone(), eps=0.3, alpha=0.1, steps=3)
    assert done.tolist() == [True, False, False, False]
    assert torch.equal(out[0], x[0])  # frozen where it was evaluated
    assert torch.allclose(out[1:], torch.full((3, 1, 2, 2), 0.8))  # three steps of +0.1
    assert seen == [[0, 1, 2, 3], [1, 2, 3], [1, 2, 3]]


def test_project_and_random_start_respect_the_ball():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(8, 3, 4, 4, generator=gen)
    for norm, eps in (("linf", 0.05), ("l2", 0.5)):
        start = random_start(x, eps, norm, "uniform", generator=gen)
        assert float(lp_norm(start - x, norm).max()) <= eps + 1e-6
        far = project(x + 10 * torch.randn(x.shape, generator=gen), x, eps, norm)
        assert float(lp_norm(far - x, norm).max()) <= eps + 1e-6
        assert float(far.min()) >= 0 and float(far.max()) <= 1
