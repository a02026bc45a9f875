"""Our AutoAttack against torchattacks' on the same model and images: time and robust accuracy.

    python benchmarks/bench_autoattack.py [--device cuda] [--n 359] [--eps 0.1]

The model is a digits CNN adversarially trained for a few seconds (PGD-5 at --train-eps), so a real share of
the points is robust and the expensive late stages (FAB-T, Square) run. Three evaluations, same batches:
  ours         compressor.attacks autoattack (standard: APGD-CE, APGD-T, FAB-T, Square 5000)
  ta-wrapper   torchattacks.AutoAttack(version="standard") as users call it (10-iteration APGD/FAB,
               rescaled Square schedule: cheaper and weaker than the reference protocol)
  ta-reference torchattacks APGD/APGDT/FAB/Square chained with the reference parameters (100 iterations,
               9 targets, Square 5000 queries, p_init 0.8): the same protocol as ours
Every robust accuracy is re-measured the same way from the returned images (and the eps-ball checked);
with --repeat the runs are interleaved and the fastest time of each is reported (the CPU may be shared).
A JSON line with the figures, device and versions is appended to benchmarks/results.jsonl.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torchattacks  # noqa: E402

from compressor.attacks import get_attack  # noqa: E402
from compressor.attacks.base import lp_norm, predict  # noqa: E402
from compressor.evaluation.environment import append_jsonl, environment, timed_call  # noqa: E402
from tests.toy_models import train_digits_cnn  # noqa: E402


def _in_batches(attack, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> torch.Tensor:
    return torch.cat(
        [attack(xb, yb) for xb, yb in zip(x.split(batch_size), y.split(batch_size), strict=True)]
    )


def _reference_build(model, eps: float) -> torchattacks.MultiAttack:
    return torchattacks.MultiAttack(
        [
            torchattacks.APGD(
                model, norm="Linf", eps=eps, steps=100, n_restarts=1, loss="ce", rho=0.75, seed=0
            ),
            torchattacks.APGDT(model, norm="Linf", eps=eps, steps=100, n_restarts=1, n_classes=10, seed=0),
            torchattacks.FAB(
                model,
                norm="Linf",
                eps=eps,
                steps=100,
                n_restarts=1,
                multi_targeted=True,
                n_classes=10,
                seed=0,
            ),
            torchattacks.Square(
                model,
                norm="Linf",
                eps=eps,
                n_queries=5000,
                n_restarts=1,
                p_init=0.8,
                loss="margin",
                resc_schedule=False,
                seed=0,
            ),
        ]
    )


def main() -> None:
    """Run the three evaluations, print the table and the speed ratios, log the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n", type=int, default=359, help="test images (the digits test split has 359)")
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument(
        "--train-eps", type=float, default=0.1, help="PGD-training radius of the model (0: natural)"
    )
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (both sides)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="interleaved repetitions; the fastest of each is kept"
    )
    parser.add_argument(
        "--skip-reference", action="store_true", help="skip the slow reference-parameter build"
    )
    parser.add_argument("--out", default=str(Path(__file__).with_name("results.jsonl")))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    model, x, y = train_digits_cnn(epochs=args.epochs, adversarial_eps=args.train_eps)
    model = model.to(device).eval()
    x, y = x[: args.n].to(device), y[: args.n].to(device)
    clean = float((predict(model, x) == y).float().mean())
    ours_attack = get_attack("autoattack")
    runs = {
        "ours": lambda: ours_attack(model, x, y, eps=args.eps, seed=0, batch_size=args.batch_size).x_adv,
        "ta-wrapper": lambda: _in_batches(
            torchattacks.AutoAttack(
                model, norm="Linf", eps=args.eps, version="standard", n_classes=10, seed=0
            ),
            x,
            y,
            args.batch_size,
        ),
    }
    if not args.skip_reference:
        runs["ta-reference"] = lambda: _in_batches(_reference_build(model, args.eps), x, y, args.batch_size)

    figures: dict[str, dict[str, float]] = {}
    print(
        f"{len(y)} digits test images, eps {args.eps:g}, clean accuracy {100 * clean:.2f}%, device {environment(device)['device']}"
    )
    for _ in range(args.repeat):
        for name, run in runs.items():
            x_adv, seconds = timed_call(run, device)
            robust = float((predict(model, x_adv) == y).float().mean())
            delta = float(lp_norm(x_adv.detach() - x, "linf").max())
            best = figures.setdefault(name, {"seconds": float("inf"), "all_seconds": []})
            best["all_seconds"].append(seconds)
            best.update(robust_accuracy=robust, max_linf=delta, seconds=min(best["seconds"], seconds))
    print(f"{'run':<14}{'robust %':>10}{'seconds':>10}{'max |delta|':>13}")
    for name, f in figures.items():
        print(f"{name:<14}{100 * f['robust_accuracy']:>10.2f}{f['seconds']:>10.1f}{f['max_linf']:>13.4f}")
    ratios = {
        f"{k}/ours": v["seconds"] / figures["ours"]["seconds"] for k, v in figures.items() if k != "ours"
    }
    for key, ratio in ratios.items():
        other = key.split("/")[0]
        gap = 100 * (figures["ours"]["robust_accuracy"] - figures[other]["robust_accuracy"])
        print(
            f"speed ratio {key}: {ratio:.2f}x (ours {'faster' if ratio > 1 else 'slower'}); robust accuracy ours - {other}: {gap:+.2f} points"
        )
    append_jsonl(
        args.out,
        {
            "benchmark": "autoattack",
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "command": " ".join(sys.argv),
            **environment(device, ("torch", "torchattacks")),
            "threads": args.threads,
            "repeat": args.repeat,
            "n": len(y),
            "eps": args.eps,
            "train_eps": args.train_eps,
            "clean_accuracy": clean,
            "figures": figures,
            "speed_ratios": ratios,
        },
    )


if __name__ == "__main__":
    main()
