"""Our AutoAttack against torchattacks' on the same model and images: time and robust accuracy.

    python benchmarks/bench_autoattack.py [--device cuda] [--n 359] [--eps 0.1] [--skip-wrapper]

The model is a digits CNN adversarially trained for a few seconds (PGD-5 at --train-eps), so a real share of
the points is robust and the expensive late stages (FAB-T, Square) run. Three evaluations, same batches:
  ours         compressor.attacks autoattack (standard: APGD-CE, APGD-T, FAB-T, Square 5000)
  ta-wrapper   torchattacks.AutoAttack(version="standard") as users call it (10-iteration APGD/FAB,
               rescaled Square schedule: cheaper and weaker than the reference protocol)
  ta-reference torchattacks APGD/APGDT/FAB/Square chained with the reference parameters (100 iterations,
               9 targets, Square 5000 queries, p_init 0.8): the same protocol as ours
Every robust accuracy is re-measured the same way from the returned images (and the eps-ball checked), and
each torchattacks run is compared with ours image by image (agreement: the share of images both call robust
or both call broken); with --repeat the runs are interleaved and the fastest time of each is reported (the
CPU may be shared). --n above the 359 test images tops up with training images (counted in `n_from_train`).
A JSON line with the figures, device and versions is appended to benchmarks/results.jsonl, also when the run
is interrupted (Ctrl-C or `timeout -s INT`): then with the runs finished so far and `"interrupted": true`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torchattacks  # noqa: E402
from records import cuda_fields  # noqa: E402

from compressor.attacks import get_attack  # noqa: E402
from compressor.attacks.base import lp_norm, predict  # noqa: E402
from compressor.evaluation.environment import append_jsonl, environment, timed_call  # noqa: E402
from tests.toy_models import digits_tensors, train_digits_cnn  # noqa: E402


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
    parser.add_argument(
        "--n", type=int, default=359, help="images: the 359 test ones, then training ones beyond that"
    )
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
    parser.add_argument(
        "--skip-wrapper", action="store_true", help="skip torchattacks.AutoAttack as users call it"
    )
    parser.add_argument("--out", default=str(Path(__file__).with_name("results.jsonl")))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    model, x, y = train_digits_cnn(epochs=args.epochs, adversarial_eps=args.train_eps)
    model = model.to(device).eval()
    n_from_train = max(0, args.n - len(y))
    if n_from_train:
        x_train, y_train = digits_tensors()[:2]
        x, y = torch.cat([x, x_train[:n_from_train]]), torch.cat([y, y_train[:n_from_train]])
    x, y = x[: args.n].to(device), y[: args.n].to(device)
    clean = float((predict(model, x) == y).float().mean())
    ours_attack = get_attack("autoattack")
    runs = {"ours": lambda: ours_attack(model, x, y, eps=args.eps, seed=0, batch_size=args.batch_size).x_adv}
    if not args.skip_reference:  # before the wrapper: the comparison that matters, should time run out
        runs["ta-reference"] = lambda: _in_batches(_reference_build(model, args.eps), x, y, args.batch_size)
    if not args.skip_wrapper:
        runs["ta-wrapper"] = lambda: _in_batches(
            torchattacks.AutoAttack(
                model, norm="Linf", eps=args.eps, version="standard", n_classes=10, seed=0
            ),
            x,
            y,
            args.batch_size,
        )

    figures: dict[str, dict[str, Any]] = {}
    robust_mask: dict[str, torch.Tensor] = {}
    interrupted = False
    print(
        f"{len(y)} digits test images, eps {args.eps:g}, clean accuracy {100 * clean:.2f}%, device {environment(device)['device']}"
    )
    try:
        for _ in range(args.repeat):
            for name, run in runs.items():
                x_adv, seconds = timed_call(run, device)
                robust_mask[name] = (predict(model, x_adv) == y).cpu()
                robust = float(robust_mask[name].float().mean())
                delta = float(lp_norm(x_adv.detach() - x, "linf").max())
                best = figures.setdefault(name, {"seconds": float("inf"), "all_seconds": []})
                best["all_seconds"].append(seconds)
                best.update(robust_accuracy=robust, max_linf=delta, seconds=min(best["seconds"], seconds))
                print(f"  {name}: {seconds:.1f} s, robust {100 * robust:.2f}%", flush=True)
    except KeyboardInterrupt:
        interrupted = True
        print("interrupted: recording the runs finished so far", flush=True)
    agreement = {
        f"{k}/ours": _agreement(robust_mask["ours"], mask)
        for k, mask in robust_mask.items()
        if k != "ours" and "ours" in robust_mask
    }
    print(f"{'run':<14}{'robust %':>10}{'seconds':>10}{'max |delta|':>13}")
    for name, f in figures.items():
        print(f"{name:<14}{100 * f['robust_accuracy']:>10.2f}{f['seconds']:>10.1f}{f['max_linf']:>13.4f}")
    ratios = {
        f"{k}/ours": v["seconds"] / figures["ours"]["seconds"]
        for k, v in figures.items()
        if k != "ours" and "ours" in figures
    }
    for key, ratio in ratios.items():
        other = key.split("/")[0]
        gap = 100 * (figures["ours"]["robust_accuracy"] - figures[other]["robust_accuracy"])
        a = agreement[key]
        print(
            f"speed ratio {key}: {ratio:.2f}x (ours {'faster' if ratio > 1 else 'slower'}); robust accuracy ours - {other}: {gap:+.2f} points; "
            f"per-image agreement {100 * a['agree']:.2f}% ({a['only_ours_broke']} broken by ours only, {a['only_other_broke']} by {other} only)"
        )
    append_jsonl(
        args.out,
        {
            "benchmark": "autoattack",
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "command": " ".join(sys.argv),
            **environment(device, ("torch", "torchattacks")),
            **cuda_fields(),
            "threads": args.threads,
            "repeat": args.repeat,
            "n": len(y),
            "n_from_train": n_from_train,
            "batch_size": args.batch_size,
            "eps": args.eps,
            "train_eps": args.train_eps,
            "clean_accuracy": clean,
            "figures": figures,
            "speed_ratios": ratios,
            "agreement": agreement,
            "interrupted": interrupted,
        },
    )
    if interrupted:
        sys.exit(130)


def _agreement(ours: torch.Tensor, other: torch.Tensor) -> dict[str, float | int]:
    """Image by image: the share on which both runs agree (robust or broken), and where each broke alone."""
    return {
        "agree": float((ours == other).float().mean()),
        "only_ours_broke": int((~ours & other).sum()),
        "only_other_broke": int((ours & ~other).sum()),
    }


if __name__ == "__main__":
    main()
