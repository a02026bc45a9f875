"""Attack strength under bf16 autocast against fp32, on the same model, images and random starts.

    python benchmarks/bench_bf16_attack.py --device cuda                         # digits CNN, PGD-trained here
    python benchmarks/bench_bf16_attack.py --device cuda --run runs/mnist-ciard-ciard --role student \\
        data.root=/tmp/mnist                                                     # a model of a pipeline run

Training runs the attack under the recipe's autocast (bf16 on CUDA by default); the question is whether
its gradients stay faithful. Three measurements, each fp32 against bf16 with identical random starts:
  eval PGD-20   `compressor.attacks` pgd20 (early drop-out, step eps/4): robust accuracy as each precision
                judges itself, the bf16 attack's points re-judged in fp32, and per-sample agreement of the
                robust/fooled verdict (fp32 attack vs bf16 attack, both judged in fp32)
  train PGD-10  `maximize` on per-sample CE as the training methods run it (fixed steps, no drop-out):
                fp32 accuracy and mean fp32 CE at each precision's points, per-sample agreement
  gradient      at the clean points: share of input-gradient entries whose sign agrees (L-inf steps use
                the sign) and the cosine similarity of the two gradients
The model is evaluated in eval mode; logits are cast to float32 before every loss, as in the library.
One JSON line per model is appended to --out.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compressor.attacks import get_attack  # noqa: E402
from compressor.attacks.ascent import maximize  # noqa: E402
from compressor.attacks.base import predict  # noqa: E402
from compressor.evaluation.environment import environment  # noqa: E402


class Autocast(nn.Module):
    """Runs the wrapped model under autocast to `dtype` (logits come back in that dtype)."""

    def __init__(self, model: nn.Module, dtype: torch.dtype) -> None:
        super().__init__()
        self.model, self.dtype = model, dtype

    def forward(self, x: Tensor) -> Tensor:
        """The wrapped model's output under autocast."""
        with torch.autocast(x.device.type, dtype=self.dtype):
            return self.model(x)


def digits_model(args: argparse.Namespace) -> tuple[nn.Module, Tensor, Tensor, float, str]:
    """The PGD-trained digits CNN (trained on the CPU, seconds) and the digits test split."""
    from tests.toy_models import train_digits_cnn

    model, x, y = train_digits_cnn(epochs=args.epochs, adversarial_eps=args.train_eps)
    return model, x, y, args.eps or 0.1, f"digits DigitsCNN, PGD-5 trained at eps {args.train_eps}"


def run_model(args: argparse.Namespace) -> tuple[nn.Module, Tensor, Tensor, float, str]:
    """A model of a pipeline run (student, or a teacher by role) and the recipe's test split."""
    from compressor.data.loading import load_data
    from compressor.data.sources import as_float
    from compressor.models.build import build_model
    from compressor.pipeline.artifacts import load_data_info
    from compressor.pipeline.stage import stage_output
    from compressor.recipe_loading import load_recipe
    from compressor.rundir import open_run_dir

    run = open_run_dir(args.run)
    recipe = load_recipe(run.recipe, args.overrides)
    info = load_data_info(run)
    if args.role == "student":
        model = build_model(recipe.student, info, stage_output(run, "distill", "best"))
    else:
        spec = next(t for t in recipe.teachers if t.role == args.role)
        model = build_model(spec.model, info, stage_output(run, "teachers", "weights", role=args.role))
    test = load_data(recipe.data, recipe.run.seed).test
    eps = args.eps or float(recipe.attack.eps)
    return model, as_float(test.x), test.y, eps, f"{run.root.name} {args.role}"


def agreement(a: Tensor, b: Tensor) -> float:
    """Share of samples where two boolean verdicts agree."""
    return float((a == b).float().mean())


def eval_pgd(model: nn.Module, bf16: nn.Module, x: Tensor, y: Tensor, eps: float) -> dict[str, float]:
    """PGD-20 as evaluation runs it, fp32 against bf16 (same seed)."""
    attack = get_attack("pgd20")
    res32, res16 = attack(model, x, y, eps=eps, seed=0), attack(bf16, x, y, eps=eps, seed=0)
    judged32 = predict(model, res16.x_adv) == y
    robust32 = res32.robust
    return {
        "robust_fp32": float(robust32.float().mean()),
        "robust_bf16_self_judged": float(res16.robust.float().mean()),
        "robust_bf16_judged_fp32": float(judged32.float().mean()),
        "per_sample_agreement": agreement(robust32, judged32),
        "fooled_by_fp32_only": float((~robust32 & judged32).float().mean()),
        "fooled_by_bf16_only": float((robust32 & ~judged32).float().mean()),
    }


def train_pgd(
    model: nn.Module, bf16: nn.Module, x: Tensor, y: Tensor, eps: float, steps: int
) -> dict[str, float]:
    """The training attack (`maximize`, CE, uniform start, step eps/4), fp32 against bf16."""
    out = {}
    points = {}
    for name, net in (("fp32", model), ("bf16", bf16)):
        torch.manual_seed(0)  # same random start for both
        points[name] = maximize(
            lambda z, net=net: F.cross_entropy(net(z).float(), y, reduction="none"),
            x, eps=eps, alpha=eps / 4, steps=steps,
        )  # fmt: skip
        with torch.no_grad():
            logits = model(points[name]).float()
        out[f"accuracy_fp32_at_{name}_points"] = float((logits.argmax(1) == y).float().mean())
        out[f"mean_ce_fp32_at_{name}_points"] = float(F.cross_entropy(logits, y))
        points[name + "_correct"] = logits.argmax(1) == y
    out["per_sample_agreement"] = agreement(points["fp32_correct"], points["bf16_correct"])
    return out


def gradients(model: nn.Module, bf16: nn.Module, x: Tensor, y: Tensor) -> dict[str, float]:
    """Sign agreement and cosine similarity of the input gradients of the CE loss at the clean points."""
    grads = []
    for net in (model, bf16):
        z = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(net(z).float(), y, reduction="sum"), z)
        grads.append(g.flatten(1))
    g32, g16 = grads
    nonzero = (g32 != 0) | (g16 != 0)
    same = (torch.sign(g32) == torch.sign(g16)) & nonzero
    cosine = F.cosine_similarity(g32, g16, dim=1)
    return {"sign_agreement": float(same.sum() / nonzero.sum().clamp_min(1)), "cosine_mean": float(cosine.mean()),
            "cosine_min": float(cosine.min())}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    """Load the model, run the three measurements, print and append the JSON line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--run", type=Path, default=None, help="a pipeline run directory (default: digits CNN)")
    p.add_argument("--role", default="student", help="student, or a teacher role of the run")
    p.add_argument("--n", type=int, default=1000, help="test images (at most)")
    p.add_argument("--eps", type=float, default=None, help="default: 0.1 (digits) or the recipe's")
    p.add_argument("--train-eps", type=float, default=0.1, help="digits model: PGD-training radius")
    p.add_argument("--epochs", type=int, default=10, help="digits model: training epochs")
    p.add_argument("--train-steps", type=int, default=10, help="steps of the training attack")
    p.add_argument("--out", type=Path, default=Path(__file__).with_name("results.jsonl"))
    p.add_argument("overrides", nargs="*", help="recipe overrides for --run, e.g. data.root=/data")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    model, x, y, eps, source = run_model(args) if args.run else digits_model(args)
    model = model.to(device).eval()
    x, y = x[: args.n].to(device), y[: args.n].to(device)
    bf16 = Autocast(model, torch.bfloat16)
    clean32 = float((predict(model, x) == y).float().mean())
    clean16 = float((predict(bf16, x) == y).float().mean())
    record: dict[str, Any] = {
        "bench": "bf16_attack", "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        **environment(device), "model": source, "n": len(y), "eps": eps,
        "clean_fp32": clean32, "clean_bf16": clean16,
        "eval_pgd20": eval_pgd(model, bf16, x, y, eps),
        f"train_pgd{args.train_steps}": train_pgd(model, bf16, x, y, eps, args.train_steps),
        "input_gradient": gradients(model, bf16, x, y),
    }  # fmt: skip
    with args.out.open("a") as f:
        f.write(json.dumps(record) + "\n")
    e, t, g = record["eval_pgd20"], record[f"train_pgd{args.train_steps}"], record["input_gradient"]
    print(f"{source} on {record['device']}: {len(y)} images, eps {eps:.4g}, clean fp32 {100 * clean32:.2f}% "
          f"/ bf16 {100 * clean16:.2f}%")  # fmt: skip
    print(
        f"eval PGD-20   robust fp32 {100 * e['robust_fp32']:.2f}% | bf16 {100 * e['robust_bf16_self_judged']:.2f}% "
        f"(judged fp32 {100 * e['robust_bf16_judged_fp32']:.2f}%) | agreement {100 * e['per_sample_agreement']:.2f}%"
    )
    print(f"train PGD-{args.train_steps}  fp32 accuracy at fp32 points {100 * t['accuracy_fp32_at_fp32_points']:.2f}% "
          f"| at bf16 points {100 * t['accuracy_fp32_at_bf16_points']:.2f}% | agreement "
          f"{100 * t['per_sample_agreement']:.2f}%")  # fmt: skip
    print(f"gradient      sign agreement {100 * g['sign_agreement']:.2f}% | cosine mean {g['cosine_mean']:.4f} "
          f"min {g['cosine_min']:.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
