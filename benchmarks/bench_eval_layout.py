"""Evaluation attacks with channels_last weights (what `evaluate_robustness` does) against the plain layout.

    python benchmarks/bench_eval_layout.py [--device cuda] [--models tiny_cnn,small_cnn,resnet56] [--attack apgd-ce]

Same model, images, attack and seed; the baseline runs the attack on the model as built (NCHW weights,
eval mode), ours inside `compressor.models.modes.eval_mode` (eval mode + channels_last weights,
restored after). The models are trained for a few steps on random data so they are not constant; robust
accuracies of both layouts are printed (they may differ by a point where float rounding moves an
attack's path). A JSON line per model is appended to benchmarks/results.jsonl.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from compressor.attacks import get_attack  # noqa: E402
from compressor.attacks.base import predict  # noqa: E402
from compressor.config.schema import ModelSpec  # noqa: E402
from compressor.evaluation.environment import append_jsonl, environment, timed_call  # noqa: E402
from compressor.models.factory import create_classifier  # noqa: E402
from compressor.models.modes import eval_mode  # noqa: E402

SHAPES = {"tiny_cnn": (1, 28), "small_cnn": (1, 28)}  # MNIST-sized; everything else CIFAR-sized


def _fit_briefly(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 20) -> None:
    """A few Adam steps so the logits depend on the input (a random init is near-constant)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    model.eval()


def main() -> None:
    """Time the attack in both layouts per model, print the ratio, record a JSON line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", default="tiny_cnn,small_cnn,resnet56")
    parser.add_argument("--attack", default="apgd-ce")
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--eps", type=float, default=8 / 255)
    parser.add_argument("--repeat", type=int, default=2, help="interleaved runs; the fastest of each counts")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(Path(__file__).with_name("results.jsonl")))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    attack = get_attack(args.attack)
    for name in args.models.split(","):
        channels, size = SHAPES.get(name, (3, 32))
        torch.manual_seed(0)
        model = create_classifier(ModelSpec(name=name), num_classes=10, in_chans=channels).to(device)
        x = torch.rand(args.n, channels, size, size, device=device)
        y = torch.randint(0, 10, (args.n,), device=device)
        _fit_briefly(model, x, y)

        def run(model: nn.Module = model, x: torch.Tensor = x, y: torch.Tensor = y) -> torch.Tensor:
            return attack(model, x, y, eps=args.eps, seed=0, device=device).x_adv

        def ours(model: nn.Module = model) -> torch.Tensor:
            with eval_mode(model, channels_last=True):
                return run()

        best = {"plain": float("inf"), "channels_last": float("inf")}
        robust = {}
        for _ in range(args.repeat):
            for label, fn in (("plain", run), ("channels_last", ours)):
                x_adv, seconds = timed_call(fn, device)
                best[label] = min(best[label], seconds)
                robust[label] = float((predict(model, x_adv) == y).float().mean())
        ratio = best["plain"] / best["channels_last"]
        print(
            f"{name:<10} {args.attack}: plain {best['plain']:.2f} s, channels_last {best['channels_last']:.2f} s, "
            f"ratio {ratio:.2f}x; robust % {100 * robust['plain']:.1f} / {100 * robust['channels_last']:.1f}"
        )
        append_jsonl(
            args.out,
            {
                "benchmark": "eval_layout",
                "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "command": " ".join(sys.argv),
                **environment(device),
                "threads": args.threads,
                "model": name,
                "attack": args.attack,
                "n": args.n,
                "eps": args.eps,
                "seconds": best,
                "robust_accuracy": robust,
                "ratio": ratio,
            },
        )


if __name__ == "__main__":
    main()
