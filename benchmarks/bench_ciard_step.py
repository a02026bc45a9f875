"""Throughput of one CIARD training step, ours against the authors' plain loop, on the same models and batch.

The reference step is written here the way the authors' released CIFAR-10 script runs it: fp32 eager,
student forward on x before the attack, separate teacher forwards (the clean teacher's x' forward with a
graph, the unused T_rob(x) forward), the robust teacher in train mode, scalars pulled to the host with
`.item()`, and an attack that calls `loss.backward()` through the model with parameter gradients on each
step (`--reference-attack backward`; `grad` uses `torch.autograd.grad` on the input instead, as
MTARD's attack helper does). Our step is the trainer's loop around `compressor.methods.ciard.CIARD`:
input-only gradients in the attack, one batched forward per frozen teacher, no graph for teachers,
device-side scalars, channels_last (the trainer's default on CPU and GPU; `--channels-last off` times
without), plus bf16 autocast / torch.compile where asked (the trainer's CUDA defaults).

Both paths run the authors' semantics for the check (adaptive weights, robust teacher in train mode:
`quirk_teacher_train_mode`, teacher retraining active); one step from identical weights and seed must give
the same loss terms and updated weights within float tolerance. Two orderings differ from the script
and are aligned here (same cost): the student's clean forward runs after the attack (theirs runs before,
so their eval-mode attack sees BatchNorm running statistics already updated by the clean batch), and
images are kept in [0.05, 0.95] so the start-point clamp of our attack does not matter.

Timing alternates the two paths step by step (the machine may be shared) and uses median step times.

    python benchmarks/bench_ciard_step.py --device cpu --student tiny_cnn --teacher-robust resnet56 \
        --teacher-clean resnet56 --batch 64 --image-size 32 --steps 5
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from compressor.config.schema import AttackConfig, ModelSpec, TrainConfig
from compressor.engine.precision import resolve_speed
from compressor.methods.base import MethodContext, TrainingPosition
from compressor.methods.ciard import CIARD, CIARDParams
from compressor.models.factory import create_classifier

EPOCHS, EPOCH, WARMUP = 300, 100, 50  # a step after the teacher's warm-up, as in the middle of a run
EPS, ALPHA, ATTACK_STEPS = 8 / 255, 2 / 255, 10


class ReferenceStep:
    """One step of the authors' CIARD script, written as they do (fp32, eager, host scalars)."""

    def __init__(self, student: nn.Module, t_rob: nn.Module, t_nat: nn.Module, attack: str) -> None:
        self.student, self.t_rob, self.t_nat, self.attack = student, t_rob, t_nat, attack
        for model in (student, t_rob, t_nat):
            model.requires_grad_(True)
        t_nat.eval()
        self.opt = torch.optim.SGD(student.parameters(), lr=0.1, momentum=0.9, weight_decay=2e-4)
        self.t_opt = torch.optim.SGD(t_rob.parameters(), lr=1e-4, momentum=0.1, weight_decay=2e-4)
        self.temp_adv, self.temp_nat, self.w_adv, self.w_nat = 1.0, 1.0, 0.5, 0.5
        self.init_adv: float | None = None
        self.init_nat: float | None = None

    def _attack(self, x: Tensor, y: Tensor) -> Tensor:
        self.student.eval()
        x_adv = x.detach() + 0.001 * torch.randn_like(x)
        for _ in range(ATTACK_STEPS):
            x_adv.requires_grad_()
            loss = F.cross_entropy(self.student(x_adv), y)
            if self.attack == "backward":
                loss.backward()
                grad = x_adv.grad
            else:
                grad = torch.autograd.grad(loss, [x_adv])[0]
            x_adv = x_adv.detach() + ALPHA * torch.sign(grad.detach())
            x_adv = torch.min(torch.max(x_adv, x - EPS), x + EPS).clamp(0.0, 1.0)
        self.student.train()
        return x_adv

    def __call__(self, x: Tensor, y: Tensor) -> dict[str, float]:
        """Attack, loss, student step, teacher step; returns the loss terms."""
        self.student.train()
        self.t_rob.train()
        self.opt.zero_grad()
        self.t_opt.zero_grad()
        with torch.no_grad():
            t_nat_x = self.t_nat(x)
            self.t_rob(x)
        x_adv = self._attack(x, y)
        self.opt.zero_grad()
        s_nat = self.student(x)  # theirs runs before the attack: see the module docstring
        s_adv, t_rob_adv, t_nat_adv = self.student(x_adv), self.t_rob(x_adv), self.t_nat(x_adv)
        kl1 = _kl(F.log_softmax(s_adv, 1), F.softmax(t_rob_adv.detach() / self.temp_adv, 1)).mean()
        kl2 = _kl(F.log_softmax(s_nat, 1), F.softmax(t_nat_x.detach() / self.temp_nat, 1)).mean()
        h_adv = _plogp(F.softmax(t_rob_adv.detach() / self.temp_adv, 1)).mean()
        h_nat = _plogp(F.softmax(t_nat_x.detach() / self.temp_nat, 1)).mean()
        self.temp_adv -= 0.001 * torch.sign(h_adv / h_nat - 1).item()
        self.temp_nat -= 0.001 * torch.sign(h_nat / h_adv - 1).item()
        self.temp_adv, self.temp_nat = max(min(10, self.temp_adv), 1), max(min(10, self.temp_nat), 1)
        self._update_weights(kl1.item(), kl2.item())
        total = self.w_adv * kl1 + self.w_nat * kl2
        wrong = (t_nat_adv.argmax(1) != y).nonzero(as_tuple=True)[0]
        push = _kl(F.log_softmax(s_adv[wrong] / 5, 1), F.softmax(t_nat_adv[wrong].detach(), 1))
        push_value = 0.0
        if push.numel() and not torch.isnan(push).any():
            push = push.mean()
            push_value = push.item()
            total = total - _magnitude_scale(kl1.item(), kl2.item(), push_value) * push
        total.backward()
        self.opt.step()
        lr = 1e-4 * (0.5 + 0.5 * math.cos(math.pi * (EPOCH + 1 - WARMUP) / (EPOCHS - WARMUP)))
        for group in self.t_opt.param_groups:
            group["lr"] = lr * math.exp(-0.01 * (EPOCH + 1 - WARMUP) ** 2 / (EPOCHS - WARMUP) ** 2)
        F.cross_entropy(t_rob_adv, y).backward()
        self.t_opt.step()
        return {"loss": total.item(), "kl_adv": kl1.item(), "kl_nat": kl2.item(), "push": push_value}

    def _update_weights(self, kl1: float, kl2: float) -> None:
        self.init_adv = kl1 if self.init_adv is None else self.init_adv
        self.init_nat = kl2 if self.init_nat is None else self.init_nat
        l_adv, l_nat = kl1 / self.init_adv, kl2 / self.init_nat
        r_adv, r_nat = l_adv / ((l_adv + l_nat) / 2), l_nat / ((l_adv + l_nat) / 2)
        self.w_nat = max(0.0, self.w_nat - 0.025 * (self.w_nat - r_nat / (r_adv + r_nat)))
        self.w_adv = max(0.0, self.w_adv - 0.025 * (self.w_adv - r_adv / (r_adv + r_nat)))
        coef = 1.0 / (self.w_adv + self.w_nat)
        self.w_adv, self.w_nat = self.w_adv * coef, self.w_nat * coef


def _kl(log_p: Tensor, q: Tensor) -> Tensor:
    return torch.xlogy(q, q) - q * log_p  # exact KL; the script adds 1e-5 inside the log


def _plogp(p: Tensor) -> Tensor:
    return torch.xlogy(p, p)


def _magnitude_scale(a: float, b: float, c: float) -> float:
    a, b, c = (v + 1e-7 if v == 0 else v for v in (a, b, c))
    mag = [math.floor(math.log10(abs(v))) for v in (a, b, c)]
    return 10.0 ** (min(mag[0], mag[1]) - mag[2])


class OurStep:
    """The trainer's loop around our CIARD method."""

    def __init__(self, models: tuple[nn.Module, ...], device: torch.device, precision: str, clean: bool):
        student, t_rob, t_nat = models
        for teacher in (t_rob, t_nat):
            teacher.eval().requires_grad_(False)
        dtype = {"fp32": None, "bf16": torch.bfloat16}[precision]
        autocast = nullcontext if dtype is None else partial(torch.autocast, device.type, dtype=dtype)
        params = CIARDParams(
            name="ciard", weights="adaptive", push_cap=None, quirk_teacher_train_mode=not clean,
            teacher_retrain={"warmup_fraction": WARMUP / EPOCHS},
        )  # fmt: skip
        attack = AttackConfig(eps=EPS, alpha=ALPHA, steps=ATTACK_STEPS, init="normal", init_std=0.001)
        ctx = MethodContext(
            student, {"robust": t_rob, "clean": t_nat}, attack, params, EPOCHS, 1, device, autocast
        )
        self.method, self.student, self.autocast = CIARD(ctx), student, autocast
        self.method.start_epoch(EPOCH)
        self.opt = torch.optim.SGD(student.parameters(), lr=0.1, momentum=0.9, weight_decay=2e-4)

    def __call__(self, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        """Attack, loss under autocast, student step, teacher step (after_step)."""
        x_adv = self.method.adversarial(x, y)
        self.student.train()
        with self.autocast():
            out = self.method.loss(x, y, x_adv)
        self.opt.zero_grad(set_to_none=True)
        out.loss.backward()
        self.opt.step()
        self.method.after_step(x, y, x_adv, TrainingPosition(EPOCH, 0, EPOCH, EPOCHS, 1))
        return {"loss": out.loss.detach(), **{k: out.logs[k] for k in ("kl_adv", "kl_nat", "push")}}


def _cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else what `platform` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "cpu"


def build_models(args: argparse.Namespace, device: torch.device) -> tuple[nn.Module, ...]:
    """Student, robust and clean teacher, deterministic from the seed."""
    torch.manual_seed(0)
    names = (args.student, args.teacher_robust, args.teacher_clean)
    specs = [ModelSpec(name=n) for n in names]
    return tuple(create_classifier(s, num_classes=args.num_classes, in_chans=3).to(device) for s in specs)


def timed(paths: list[Callable[[], object]], warmup: int, steps: int, batch: int, cuda: bool) -> list[float]:
    """Images per second of each path (median step time), the paths alternating step by step."""
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    times: list[list[float]] = [[] for _ in paths]
    for i in range(warmup + steps):
        for path, record in zip(paths, times, strict=True):
            sync()
            start = time.perf_counter()
            path()
            sync()
            if i >= warmup:
                record.append(time.perf_counter() - start)
    return [batch / statistics.median(t) for t in times]


def check(
    models: tuple[nn.Module, ...], x: Tensor, y: Tensor, attack: str, channels_last: bool
) -> dict[str, float]:
    """Max |difference| of loss terms and updated weights after one fp32 step of each path (ours in the
    memory layout it is timed in)."""
    ref_models, our_models = copy.deepcopy(models), copy.deepcopy(models)
    x_ours = x
    if channels_last:
        our_models = tuple(m.to(memory_format=torch.channels_last) for m in our_models)
        x_ours = x.contiguous(memory_format=torch.channels_last)
    torch.manual_seed(1)
    ref = ReferenceStep(*ref_models, attack=attack)(x, y)
    torch.manual_seed(1)
    ours = OurStep(our_models, x.device, "fp32", clean=False)(x_ours, y)
    diffs = {k: abs(ref[k] - float(ours[k])) for k in ref}
    for i, role in enumerate(("student", "teacher_robust")):
        pairs = zip(ref_models[i].state_dict().values(), our_models[i].state_dict().values(), strict=True)
        diffs[f"{role}_weights"] = max((a.float() - b.float()).abs().max().item() for a, b in pairs)
    return diffs


def main(argv: list[str] | None = None) -> None:
    """Parse flags, check the loss agreement, time both paths, print and record the ratio."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--student", default="tiny_cnn")
    p.add_argument("--teacher-robust", default="resnet56")
    p.add_argument("--teacher-clean", default="resnet56")
    p.add_argument("--num-classes", type=int, default=10)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto")
    p.add_argument("--compile", action="store_true", help="torch.compile the three models on our path")
    p.add_argument("--channels-last", choices=["auto", "on", "off"], default="auto")
    p.add_argument("--reference-attack", choices=["backward", "grad"], default="backward")
    p.add_argument("--clean", action="store_true", help="time our clean default (eval-mode soft labels)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    p.add_argument("--out", type=Path, default=Path(__file__).with_name("results.jsonl"))
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = device.type == "cuda"
    precision = args.precision if args.precision != "auto" else ("bf16" if cuda else "fp32")
    trainer_default = resolve_speed(TrainConfig(), device).channels_last  # what `auto` means in a recipe
    channels_last = {"on": True, "off": False}.get(args.channels_last, trainer_default)
    if cuda:
        torch.backends.cudnn.benchmark = True
    models = build_models(args, device)
    g = torch.Generator().manual_seed(0)
    x = (0.05 + 0.9 * torch.rand(args.batch, 3, args.image_size, args.image_size, generator=g)).to(device)
    y = torch.randint(0, args.num_classes, (args.batch,), generator=g).to(device)
    diffs = check(models, x, y, args.reference_attack, channels_last)
    print(
        "max |ours - reference| after one fp32 step: " + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items())
    )
    reference = ReferenceStep(*copy.deepcopy(models), attack=args.reference_attack)
    ours_models, x_ours = copy.deepcopy(models), x
    if channels_last:
        ours_models = tuple(m.to(memory_format=torch.channels_last) for m in ours_models)
        x_ours = x.contiguous(memory_format=torch.channels_last)
    if args.compile:
        ours_models = tuple(torch.compile(m) for m in ours_models)
    ours = OurStep(ours_models, device, precision, args.clean)
    paths = [partial(reference, x, y), partial(ours, x_ours, y)]
    ref_rate, our_rate = timed(paths, args.warmup, args.steps, args.batch, cuda)
    ratio, target = our_rate / ref_rate, 3.0 if cuda else 1.5
    print(
        f"reference {ref_rate:.1f} img/s | ours {our_rate:.1f} img/s | ratio {ratio:.2f}x (target {target}x)"
    )
    record = {
        "bench": "ciard_step", "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": torch.cuda.get_device_name(device) if cuda else f"{_cpu_name()}, {torch.get_num_threads()} threads",
        "load_average_1m": round(os.getloadavg()[0], 2),
        "torch": torch.__version__, "python": platform.python_version(),
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "precision": precision, "channels_last": channels_last, "compile": args.compile,
        "reference_images_per_s": round(ref_rate, 2), "ours_images_per_s": round(our_rate, 2),
        "ratio": round(ratio, 3), "target": target, "max_abs_diff": {k: float(f"{v:.3g}") for k, v in diffs.items()},
    }  # fmt: skip
    with args.out.open("a") as f:
        f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
