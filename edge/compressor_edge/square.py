"""Square attack (L-inf, untargeted, query-only) in numpy, against any `scores(batch) -> logits` callable.

Andriushchenko, Croce, Flammarion, Hein, "Square Attack: a query-efficient black-box adversarial attack via
random search", ECCV 2020. Random search on the margin loss: start from vertical stripes of +-eps, then at
each step redraw one square window per image (side sqrt(p * H * W), one sign per channel) and keep the
proposal when it lowers the margin. The fraction p follows the paper's schedule (halved at fixed fractions
of a 10,000-query budget, rescaled to the actual budget), from p_init (0.8, as AutoAttack runs it).
Deviation from the authors' code: the windows of all images are drawn at once (vectorised), and a redraw
that leaves an image's window unchanged is retried up to 10 times instead of without bound.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Scores = Callable[[np.ndarray], np.ndarray]

# (iteration out of 10,000 after which p is divided by the factor): the schedule of the paper's code
_SCHEDULE_STEPS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)
_SCHEDULE_DIVISORS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


def p_schedule(p_init: float, iteration: int, n_queries: int) -> float:
    """Fraction of pixels the square covers at this iteration."""
    scaled = int(iteration / max(n_queries, 1) * 10000)
    position = bisect.bisect_left(_SCHEDULE_STEPS, scaled)
    return p_init / _SCHEDULE_DIVISORS[position]


def fragile_points(margins: np.ndarray, eligible: np.ndarray, points: int | None) -> np.ndarray:
    """Indices of up to `points` eligible points (every one when None), the smallest margin first: the points
    nearest to failing, which a model whose robustness was damaged loses first."""
    candidates = np.flatnonzero(eligible)
    ordered = candidates[np.argsort(margins[candidates], kind="stable")]
    return ordered if points is None else ordered[:points]


def margin(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Logit of the true class minus the largest other logit (negative: misclassified)."""
    rows = np.arange(labels.shape[0])
    true = logits[rows, labels]
    others = logits.copy()
    others[rows, labels] = -np.inf
    return true - others.max(axis=1)


@dataclass(frozen=True)
class SquareResult:
    """Adversarial images, which points were fooled, and the queries each used."""

    adversarial: np.ndarray
    robust: np.ndarray
    queries: np.ndarray

    @property
    def robust_accuracy(self) -> float:
        """Fraction of points still correctly classified after the attack."""
        return float(self.robust.mean())


def _window_mask(n: int, h: int, w: int, side: int, rng: np.random.Generator) -> np.ndarray:
    """One random side x side window per image, as a boolean mask [n, 1, h, w]."""
    top = rng.integers(0, h - side + 1, size=n)[:, None, None]
    left = rng.integers(0, w - side + 1, size=n)[:, None, None]
    rows = np.arange(h)[None, :, None]
    cols = np.arange(w)[None, None, :]
    inside = (rows >= top) & (rows < top + side) & (cols >= left) & (cols < left + side)
    return inside[:, None]


def _propose(x: np.ndarray, best: np.ndarray, eps: float, p: float, rng: np.random.Generator) -> np.ndarray:
    """New candidates: the best perturbation with one window per image set to a fresh +-eps per channel."""
    n, c, h, w = x.shape
    side = int(min(max(round(np.sqrt(p * h * w)), 1), h - 1 if h > 1 else 1))
    mask = _window_mask(n, h, w, side, rng)
    candidate = best.copy()
    pending = np.ones(n, dtype=bool)
    for _ in range(10):
        signs = rng.choice(np.array([-eps, eps], dtype=np.float32), size=(int(pending.sum()), c, 1, 1))
        proposal = np.clip(x[pending] + signs, 0.0, 1.0)
        window = mask[pending]
        candidate[pending] = np.where(window, proposal, best[pending])
        changed = (np.abs(candidate - best) > 1e-7).reshape(n, -1).any(axis=1)
        pending = ~changed
        if not pending.any():
            break
    return candidate


def square_attack_linf(
    scores: Scores,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    eps: float,
    n_queries: int = 1000,
    p_init: float = 0.8,
    seed: int = 0,
) -> SquareResult:
    """Attack float32 images in [0, 1] with `n_queries` queries per image (the clean query not counted).

    An image stops as soon as it is misclassified; images misclassified when clean use no query.
    """
    rng = np.random.default_rng(seed)
    x = np.ascontiguousarray(images, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    n, c, _, w = x.shape
    queries = np.zeros(n, dtype=np.int64)
    best_margin = margin(scores(x), labels)
    best = x.copy()
    attack = best_margin > 0
    if attack.any() and eps > 0 and n_queries > 0:
        stripes = rng.choice(np.array([-eps, eps], dtype=np.float32), size=(int(attack.sum()), c, 1, w))
        best[attack] = np.clip(x[attack] + stripes, 0.0, 1.0)
        best_margin[attack] = margin(scores(best[attack]), labels[attack])
        queries[attack] += 1
        for step in range(n_queries - 1):
            active = np.flatnonzero(best_margin > 0)
            if active.size == 0:
                break
            candidate = _propose(x[active], best[active], eps, p_schedule(p_init, step, n_queries), rng)
            new_margin = margin(scores(candidate), labels[active])
            queries[active] += 1
            better = new_margin < best_margin[active]
            best[active[better]] = candidate[better]
            best_margin[active[better]] = new_margin[better]
    return SquareResult(adversarial=best, robust=best_margin > 0, queries=queries)


@dataclass(frozen=True)
class SquarePlan:
    """Which probes verify attacks, with what budget, and PyTorch's accuracy there (None: not recorded)."""

    queries: int
    seed: int
    indices: np.ndarray | None = None  # None: every probe
    pytorch_acc: float | None = None

    @classmethod
    def for_bundle(cls, record: dict | None, queries: int | None, seed: int | None) -> SquarePlan:
        """The export's recorded attack when budget and seed match it (or are None), else all probes."""
        if record is not None and queries in (None, record["queries"]) and seed in (None, record["seed"]):
            indices = np.asarray(record["indices"], dtype=np.int64)
            return cls(
                int(record["queries"]), int(record["seed"]), indices, float(record["pytorch_square_acc"])
            )
        return cls(1000 if queries is None else queries, 0 if seed is None else seed)
