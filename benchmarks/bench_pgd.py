"""Our PGD training attack (compressor.attacks.ascent.maximize) against the loop a typical research script runs.

    python benchmarks/bench_pgd.py [--device cuda] [--model resnet18] [--batch 128] [--steps 10]

Naive loop: ``loss.backward()`` on the model (every weight gradient computed and accumulated, zeroed each
step), then a signed step and a projection by min/max. Ours: ``maximize`` (input-only gradients, one clamp
against precomputed bounds). Both run the same PGD-10 (eps 8/255, step 2/255, uniform start) on the same
model and batch in eval mode; the script checks they agree in effect and reports images/s and the ratio.
A JSON line with the figures, device and versions is appended to benchmarks/results.jsonl.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import Tensor, nn  # noqa: E402

from compressor.attacks.ascent import maximize  # noqa: E402
from compressor.evaluation.environment import append_jsonl, environment, timed_call  # noqa: E402
from tests.toy_models import DigitsCNN  # noqa: E402


def naive_pgd(model: nn.Module, x: Tensor, y: Tensor, eps: float, alpha: float, steps: int) -> Tensor:
    """PGD as research scripts write it: backward() through the whole model, weights included."""
    x_adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(model(x_adv), y)
        model.zero_grad()
        loss.backward()
        x_adv = x_adv.detach() + alpha * x_adv.grad.sign()
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0, 1)
    return x_adv


def ours_pgd(model: nn.Module, x: Tensor, y: Tensor, eps: float, alpha: float, steps: int) -> Tensor:
    """The training attack every method in compressor.methods runs."""
    return maximize(
        lambda xa: F.cross_entropy(model(xa), y, reduction="none"), x, eps=eps, alpha=alpha, steps=steps
    )


def _model(name: str) -> tuple[nn.Module, tuple[int, ...]]:
    if name == "digits-cnn":
        return DigitsCNN(width=32), (1, 8, 8)
    import torchvision

    return torchvision.models.resnet18(num_classes=10), (3, 32, 32)


def _rate(fn, model, x, y, args, device: torch.device) -> float:
    for _ in range(args.warmup):
        fn(model, x, y, args.eps, args.alpha, args.steps)
    _, seconds = timed_call(
        lambda: [fn(model, x, y, args.eps, args.alpha, args.steps) for _ in range(args.iters)], device
    )
    return args.iters * len(y) / seconds


def main() -> None:
    """Measure both loops (interleaved, best of --repeat), print images/s and the ratio, log the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", choices=["digits-cnn", "resnet18"], default="digits-cnn")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--eps", type=float, default=8 / 255)
    parser.add_argument("--alpha", type=float, default=2 / 255)
    parser.add_argument("--iters", type=int, default=10, help="attacked batches per measurement")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(Path(__file__).with_name("results.jsonl")))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    model, shape = _model(args.model)
    model = model.to(device).eval()
    x = torch.rand(args.batch, *shape, device=device)
    y = torch.randint(0, 10, (args.batch,), device=device)

    torch.manual_seed(1)
    loss_naive = F.cross_entropy(model(naive_pgd(model, x, y, args.eps, args.alpha, args.steps)), y).item()
    torch.manual_seed(1)
    loss_ours = F.cross_entropy(model(ours_pgd(model, x, y, args.eps, args.alpha, args.steps)), y).item()
    rates: dict[str, float] = {"naive": 0.0, "ours": 0.0}
    for _ in range(args.repeat):
        for name, fn in (("naive", naive_pgd), ("ours", ours_pgd)):
            rates[name] = max(rates[name], _rate(fn, model, x, y, args, device))
    ratio = rates["ours"] / rates["naive"]
    print(f"{args.model}, batch {args.batch}, PGD-{args.steps}, device {environment(device)['device']}")
    print(f"adversarial loss after the attack: naive {loss_naive:.4f}, ours {loss_ours:.4f}")
    print(f"naive loop: {rates['naive']:.1f} images/s; ours: {rates['ours']:.1f} images/s")
    print(f"speed ratio ours/naive: {ratio:.2f}x")
    append_jsonl(
        args.out,
        {
            "benchmark": "pgd",
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "command": " ".join(sys.argv),
            **environment(device, ("torch", "torchvision")),
            "threads": args.threads,
            "model": args.model,
            "batch": args.batch,
            "steps": args.steps,
            "images_per_s": rates,
            "speed_ratio": ratio,
            "adversarial_loss": {"naive": loss_naive, "ours": loss_ours},
        },
    )


if __name__ == "__main__":
    main()
