"""Square Attack (Andriushchenko et al. 2020, arXiv 1912.00049): query-only random search, L-inf and L2.

It needs nothing but scores: ``model`` may be any callable that maps a [B,C,H,W] float tensor in [0,1]
to [B,K] scores (a tensor or anything ``torch.as_tensor`` accepts, e.g. an onnxruntime session wrapped
to take and return numpy arrays), so it attacks exported runtimes as well as PyTorch models.

Defaults are AutoAttack's: 5000 queries, p_init 0.8, the margin loss, the fixed (not rescaled) square-size
schedule. L-inf: vertical-stripe start, then each step sets one random square per image to +-eps per
channel, kept where it lowers the margin; the square's position and signs are drawn per image, as in
the paper's code (AutoAttack's code draws one for the whole batch). L2: the AutoAttack construction,
one pair of windows per step for the batch. Window offsets range over every valid position (the
reference code never draws the last one, which on small images pins the first squares to a corner).
A point stops once misclassified.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from compressor.attacks.base import AttackResult, Norm, check_inputs, logits_of, lp_norm, make_generator
from compressor.attacks.losses import margin
from compressor.attacks.registry import register_attack

Scores = Callable[[Tensor], Any]
_SCHEDULE = (
    (10, 1),
    (50, 2),
    (200, 4),
    (500, 8),
    (1000, 16),
    (2000, 32),
    (4000, 64),
    (6000, 128),
    (8000, 256),
)


def square_fraction(it: int, n_queries: int, p_init: float, rescale: bool) -> float:
    """Fraction of the image the square covers at step ``it`` (halving at the reference's milestones)."""
    if rescale:
        it = int(it / n_queries * 10000)
    for bound, div in _SCHEDULE:
        if it <= bound:
            return p_init / div
    return p_init / 512


def _margin(model: Scores, x: Tensor, y: Tensor) -> Tensor:
    """z_y - max_{j != y} z_j: positive while the point is classified right."""
    return -margin(logits_of(model, x), y)


def _keep(s: dict[str, Tensor], done: Tensor, out: Tensor, fooled: Tensor) -> dict[str, Tensor] | None:
    """Write finished points to ``out`` and drop them from the state; None when none is left."""
    if not bool(done.any()):
        return s
    out[s["index"][done]] = s["x_best"][done]
    fooled[s["index"][done]] = True
    return {k: v[~done] for k, v in s.items()} if not bool(done.all()) else None


def _square_linf(
    model: Scores,
    x: Tensor,
    y: Tensor,
    eps: float,
    n_queries: int,
    p_init: float,
    rescale: bool,
    gen: torch.Generator,
) -> tuple[Tensor, Tensor]:
    b, c, h, w = x.shape
    lo, hi = (x - eps).clamp(min=0.0), (x + eps).clamp(max=1.0)
    stripes = torch.rand((b, c, 1, w), generator=gen, device=x.device) < 0.5
    x_best = torch.where(stripes, hi, lo)
    margin0 = _margin(model, x_best, y)
    start = {
        "index": torch.arange(b, device=x.device),
        "y": y,
        "lo": lo,
        "hi": hi,
        "x_best": x_best,
        "margin": margin0,
    }
    out, fooled = x_best.clone(), torch.zeros(b, dtype=torch.bool, device=x.device)
    s = _keep(start, margin0 <= 0, out, fooled)
    rows, cols = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    for it in range(n_queries):
        if s is None:
            break
        n = s["y"].shape[0]
        size = min(max(round(math.sqrt(square_fraction(it, n_queries, p_init, rescale) * h * w)), 1), h, w)
        top = torch.randint(0, h - size + 1, (n, 1), generator=gen, device=x.device)
        left = torch.randint(0, w - size + 1, (n, 1), generator=gen, device=x.device)
        in_rows = (rows >= top) & (rows < top + size)
        in_cols = (cols >= left) & (cols < left + size)
        window = in_rows[:, None, :, None] & in_cols[:, None, None, :]
        up = torch.rand((n, c, 1, 1), generator=gen, device=x.device) < 0.5
        cand = torch.where(window, torch.where(up, s["hi"], s["lo"]), s["x_best"])
        m = _margin(model, cand, s["y"])
        better = m < s["margin"]
        s["margin"] = torch.where(better, m, s["margin"])
        s["x_best"] = torch.where(better[:, None, None, None], cand, s["x_best"])
        s = _keep(s, s["margin"] <= 0, out, fooled)
    if s is not None:
        out[s["index"]] = s["x_best"]
    return out, fooled


def _rings(a: int, b: int, device: torch.device) -> Tensor:
    """An a x b block whose mass falls off in square rings around its centre (1/(k+1)^2 per ring k)."""
    i = (torch.arange(a, device=device) - a // 2).abs()
    j = (torch.arange(b, device=device) - b // 2).abs()
    ring = torch.maximum(i[:, None], j[None, :])
    n_rings = max(a // 2 + 1, b // 2 + 1)
    weights = 1.0 / torch.arange(1, n_rings + 1, device=device, dtype=torch.float32) ** 2
    tail = weights.flip(0).cumsum(0).flip(0)
    block = tail[ring]
    return block / block.norm().clamp_min(1e-12)


def _eta(size: int, gen: torch.Generator, device: torch.device) -> Tensor:
    """The L2 square's pattern: a positive and a negative ring block stacked, randomly transposed."""
    block = torch.cat((_rings(size // 2, size, device), -_rings(size - size // 2, size, device)))
    block = block / block.norm().clamp_min(1e-12)
    return block.t() if bool(torch.rand(1, generator=gen, device=device) > 0.5) else block


def _square_l2(
    model: Scores,
    x: Tensor,
    y: Tensor,
    eps: float,
    n_queries: int,
    p_init: float,
    rescale: bool,
    gen: torch.Generator,
) -> tuple[Tensor, Tensor]:
    b, c, h, w = x.shape
    dev = x.device
    tile = max(h // 5, 1)
    delta = torch.zeros_like(x)
    first = (h - tile * 5) // 2
    for top in range(first, first + tile * (h // tile), tile):
        for left in range(first, first + tile * (w // tile), tile):
            if top >= h or left >= w:
                continue
            block = _eta(tile, gen, dev)[: h - top, : w - left]
            signs = torch.rand((b, c, 1, 1), generator=gen, device=dev).lt(0.5).float().mul_(2).sub_(1)
            delta[:, :, top : top + tile, left : left + tile] += block * signs
    x_best = (x + eps * delta / lp_norm(delta, "l2").add(1e-12)).clamp(0.0, 1.0)
    margin0 = _margin(model, x_best, y)
    start = {"index": torch.arange(b, device=dev), "y": y, "x": x, "x_best": x_best, "margin": margin0}
    out, fooled = x_best.clone(), torch.zeros(b, dtype=torch.bool, device=dev)
    s = _keep(start, margin0 <= 0, out, fooled)
    for it in range(n_queries):
        if s is None:
            break
        n, xs = s["y"].shape[0], s["x"]
        delta = s["x_best"] - xs
        size = max(round(math.sqrt(square_fraction(it, n_queries, p_init, rescale) * h * w)), 3)
        size = min(size + 1 if size % 2 == 0 else size, h, w)
        v = torch.randint(0, h - size + 1, (2,), generator=gen, device=dev).tolist()
        u = torch.randint(0, w - size + 1, (2,), generator=gen, device=dev).tolist()
        win1 = (slice(None), slice(None), slice(v[0], v[0] + size), slice(u[0], u[0] + size))
        win2 = (slice(None), slice(None), slice(v[1], v[1] + size), slice(u[1], u[1] + size))
        mask = torch.zeros((1, 1, h, w), device=dev)
        mask[win1] = 1.0
        mask[win2] = 1.0
        norm_image = lp_norm(delta, "l2")
        norm_windows = lp_norm(delta * mask, "l2")
        old = delta[win1] / (1e-12 + delta[win1].square().sum((-2, -1), keepdim=True).sqrt())
        signs = torch.rand((n, c, 1, 1), generator=gen, device=dev).lt(0.5).float().mul_(2).sub_(1)
        new = _eta(size, gen, dev) * signs + old
        budget = ((eps**2 - norm_image**2).clamp_min(0.0) / c + norm_windows**2).sqrt()
        new = new / (1e-12 + new.square().sum((-2, -1), keepdim=True).sqrt()) * budget
        delta[win2] = 0.0
        delta[win1] = new
        cand = (xs + eps * delta / (lp_norm(delta, "l2") + 1e-12)).clamp(0.0, 1.0)
        m = _margin(model, cand, s["y"])
        better = m < s["margin"]
        s["margin"] = torch.where(better, m, s["margin"])
        s["x_best"] = torch.where(better[:, None, None, None], cand, s["x_best"])
        s = _keep(s, s["margin"] <= 0, out, fooled)
    if s is not None:
        out[s["index"]] = s["x_best"]
    return out, fooled


@register_attack(
    "square",
    kind="black-box",
    description="Square Attack, 5000 queries, p_init 0.8",
    params={"n_queries": 5000, "p_init": 0.8, "n_restarts": 1, "rescale_schedule": False},
)
@torch.no_grad()
def square(
    model: Scores,
    x: Tensor,
    y: Tensor,
    *,
    eps: float,
    norm: Norm = "linf",
    n_queries: int = 5000,
    p_init: float = 0.8,
    n_restarts: int = 1,
    rescale_schedule: bool = False,
    seed: int = 0,
) -> AttackResult:
    """Square Attack with up to ``n_queries`` queries per point (plus one for the start), restarts on survivors."""
    check_inputs(x, y, eps, norm)
    if x.dim() != 4:
        raise ValueError(f"Square Attack needs images [B,C,H,W], got shape {tuple(x.shape)}")
    gen = make_generator(x.device, seed)
    x = x.detach()
    run = _square_linf if norm == "linf" else _square_l2
    x_adv, robust = x.clone(), logits_of(model, x).argmax(1) == y
    for _ in range(n_restarts):
        active = robust.nonzero().squeeze(1)
        if active.numel() == 0:
            break
        out, fooled = run(model, x[active], y[active], eps, n_queries, p_init, rescale_schedule, gen)
        x_adv[active] = out
        robust[active[fooled]] = False
    return AttackResult(x_adv, robust)
