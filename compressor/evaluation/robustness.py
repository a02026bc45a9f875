"""Robust accuracy of a model under a list of attacks: the number a report headlines, with its checks."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from fractions import Fraction

import torch
from torch import Tensor, nn

from compressor.attacks import AttackSpec, get_attack
from compressor.attacks.base import Norm, OnBatch, lp_norm, predict
from compressor.console import ProgressDisplay
from compressor.evaluation import sanity
from compressor.evaluation.environment import environment
from compressor.evaluation.result import EvaluationResult, SanityCheck
from compressor.models.modes import eval_mode

log = logging.getLogger(__name__)

# attack gradients and the robust/not verdict are computed in float32 whatever precision trained the model
EVALUATION_PRECISION = "fp32"


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a parameter-free model)."""
    for t in (*model.parameters(), *model.buffers()):
        return t.device
    return torch.device("cpu")


def eps_text(eps: float) -> str:
    """eps as the literature writes it: "8/255" when it is a whole number of 1/255 steps."""
    frac = Fraction(eps).limit_denominator(255)
    close = abs(float(frac) - eps) < 1e-9 and 255 % frac.denominator == 0 and frac.denominator > 1
    return f"{frac.numerator * 255 // frac.denominator}/255" if close else f"{eps:g}"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def _verify(
    model: nn.Module,
    x: Tensor,
    x_adv: Tensor,
    y: Tensor,
    norm: Norm,
    eps: float,
    batch_size: int,
    device: torch.device,
) -> tuple[Tensor, float]:
    """Recompute which adversarial points are still classified right; and the worst bound violation."""
    robust, violation = [], 0.0
    for start in range(0, len(y), batch_size):
        part = slice(start, start + batch_size)
        xa, xc = x_adv[part].to(device), x[part].to(device)
        robust.append((predict(model, xa) == y[part].to(device)).cpu())
        outside = (lp_norm(xa - xc, norm).max() - eps).clamp_min(0) if len(xa) else torch.zeros(())
        box = torch.maximum(-xa.min(), xa.max() - 1).clamp_min(0) if len(xa) else torch.zeros(())
        violation = max(violation, float(outside), float(box))
    return (torch.cat(robust) if robust else torch.zeros(0, dtype=torch.bool)), violation


@dataclass(frozen=True, kw_only=True)
class AttackSettings:
    """The threat model every attack and sanity check of an evaluation runs at, and how they run."""

    eps: float
    norm: Norm = "linf"
    batch_size: int = 256
    seed: int = 0
    device: torch.device | str | None = None  # None: the model's device


@dataclass
class _Attacked:
    """What the attacks left: per attack a robust flag per image (and per stage), their seconds, and the
    largest step outside the eps-ball or the image box any adversarial example took."""

    index: Tensor  # the correctly classified images, the only ones attacked
    flags: dict[str, Tensor] = field(default_factory=dict)
    stages: dict[str, dict[str, Tensor]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    violation: float = 0.0


def evaluate_robustness(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    attacks: list[str],
    settings: AttackSettings,
    sanity_checks: bool = True,
    sanity_subset: int = 128,
    progress: ProgressDisplay | None = None,
) -> EvaluationResult:
    """Clean accuracy, each attack's robust accuracy and the worst case per sample, with sanity checks.

    Each attack runs on the correctly classified images only (the others count as not robust) and its
    adversarial examples are re-checked with a forward pass and against the eps-ball. The model runs in
    eval mode and in float32 (autocast off, even inside a caller's autocast); ``x`` may stay on the CPU,
    batches move to ``settings.device`` (default: the model's device). ``progress`` shows each attack's
    points done and robust accuracy so far.
    """
    specs = [get_attack(name) for name in attacks]
    device = torch.device(settings.device) if settings.device is not None else model_device(model)
    settings = replace(settings, device=device)
    x, y = x.detach().cpu().float(), y.detach().cpu().long()
    with eval_mode(model, channels_last=True), torch.autocast(device.type, enabled=False):
        correct = _correct(model, x, y, settings.batch_size, device)
        attacked = _attack(model, x, y, correct, specs, settings, progress)
        checks = _run_checks(model, x, y, attacked, specs, settings, sanity_subset) if sanity_checks else []
    flags = attacked.flags
    worst_case = torch.stack(list(flags.values())).all(0) if flags else correct
    result = EvaluationResult(
        n=len(y),
        clean_accuracy=_mean(correct),
        robust_accuracy={name: _mean(f) for name, f in flags.items()},
        worst_case_accuracy=_mean(worst_case),
        seconds=attacked.seconds,
        settings={
            "eps": settings.eps,
            "eps_text": eps_text(settings.eps),
            "norm": settings.norm,
            "attacks": [s.name for s in specs],
            "batch_size": settings.batch_size,
            "seed": settings.seed,
            **environment(device),
            "precision": EVALUATION_PRECISION,
            "sanity_subset": min(sanity_subset, len(attacked.index)) if sanity_checks else 0,
        },
        sanity_checks=checks,
        stages={name: {k: _mean(v) for k, v in st.items()} for name, st in attacked.stages.items()},
    )
    for check in result.failed_checks:
        log.warning("SANITY CHECK FAILED: %s: %s", check.name, check.message)
    return result


def _correct(model: nn.Module, x: Tensor, y: Tensor, batch_size: int, device: torch.device) -> Tensor:
    """Which images the model classifies correctly (a CPU bool per image)."""
    if not len(y):
        return torch.zeros(0, dtype=torch.bool)
    batches = zip(x.split(batch_size), y.split(batch_size), strict=True)
    return torch.cat([predict(model, xb.to(device)).cpu() == yb for xb, yb in batches])


def _attack(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    correct: Tensor,
    specs: list[AttackSpec],
    settings: AttackSettings,
    progress: ProgressDisplay | None,
) -> _Attacked:
    """Every attack on the correctly classified images, its examples re-verified (robust + in bounds)."""
    device, n = torch.device(settings.device or "cpu"), len(y)
    eps, norm, batch_size = settings.eps, settings.norm, settings.batch_size
    index = correct.nonzero().squeeze(1)
    xc, yc = x[index], y[index]
    out = _Attacked(index)
    for spec in specs:
        _sync(device)
        start = time.perf_counter()
        run = spec(
            model,
            xc,
            yc,
            eps=eps,
            norm=norm,
            seed=settings.seed,
            batch_size=batch_size,
            device=device,
            on_batch=_reporter(progress, spec.name, n),
        )
        robust, worst = _verify(model, xc, run.x_adv, yc, norm, eps, batch_size, device)
        _sync(device)
        out.seconds[spec.name] = time.perf_counter() - start
        out.violation = max(out.violation, worst)
        out.flags[spec.name] = torch.zeros(n, dtype=torch.bool).index_put_((index,), robust)
        if run.stages:
            out.stages[spec.name] = {
                k: torch.zeros(n, dtype=torch.bool).index_put_((index,), v.cpu())
                for k, v in run.stages.items()
            }
    return out


def _reporter(progress: ProgressDisplay | None, attack: str, n: int) -> OnBatch | None:
    """An attack's batches as a progress task: points done, and the robust accuracy they point to."""
    if progress is None:
        return None
    task = progress.add(attack, 0)

    def on_batch(stage: str, done: int, total: int, survived: int) -> None:
        share = survived / max(done, 1) * total / max(n, 1)  # of all n images, as if the rest fare alike
        name = f"{attack} {stage}" if stage else attack
        progress.update(task, done, f"robust {100 * share:.1f}% so far", total=total, description=name)

    return on_batch


def _run_checks(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    attacked: _Attacked,
    specs: list[AttackSpec],
    settings: AttackSettings,
    subset: int,
) -> list[SanityCheck]:
    """The sanity checks on up to `subset` correctly classified images, at the evaluation's settings."""
    eps, norm, seed, batch_size = settings.eps, settings.norm, settings.seed, settings.batch_size
    device = settings.device
    checks = [sanity.check_bounds(attacked.violation, eps)] if specs else []
    sub = attacked.index[:subset]
    if len(sub) == 0:
        return [*checks, SanityCheck("subset", None, "no correctly classified image to run the checks on")]
    xs, ys = x[sub].to(device), y[sub].to(device)
    kinds = {s.name: s.kind for s in specs}

    def square_on_subset(white_robust: Tensor) -> tuple[Tensor, int]:
        keep = white_robust[sub].to(device)
        res = get_attack("square")(
            model,
            xs[keep],
            ys[keep],
            eps=eps,
            norm=norm,
            seed=seed,
            batch_size=batch_size,
            n_queries=sanity.SQUARE_QUERIES,
        )
        fooled = torch.zeros_like(white_robust)
        fooled[sub[keep.cpu()]] = ~res.robust.cpu()
        return fooled, int(keep.sum())

    def white_box_retry(points: Tensor) -> int:
        chosen = points.nonzero().squeeze(1).cpu()
        res = get_attack(sanity.RETRY_ATTACK)(
            model,
            x[chosen].to(device),
            y[chosen].to(device),
            eps=eps,
            norm=norm,
            seed=seed,
            batch_size=batch_size,
            restarts=sanity.RETRY_RESTARTS,
        )
        return int((~res.robust).sum())

    checks += sanity.check_outputs(model, xs)
    checks.append(sanity.check_gradients(model, xs, ys))
    checks.append(
        sanity.check_more_steps(model, xs, ys, eps=eps, norm=norm, seed=seed, batch_size=batch_size)
    )
    checks.append(sanity.check_large_eps(model, xs, ys, norm=norm, seed=seed, batch_size=batch_size))
    checks.append(
        sanity.check_black_box(attacked.flags, kinds, attacked.stages, square_on_subset, white_box_retry)
    )
    return checks


def _mean(mask: Tensor) -> float:
    return float(mask.float().mean()) if mask.numel() else 0.0
