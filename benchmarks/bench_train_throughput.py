"""Full CIARD training-step throughput, model FLOP utilisation and peak memory; evaluation-attack throughput.

    python benchmarks/bench_train_throughput.py --device cuda                      # the issue's setting
    python benchmarks/bench_train_throughput.py --device cpu --students tiny_cnn --teacher-robust tiny_cnn \\
        --teacher-clean tiny_cnn --batch 16 --steps 2 --warmup 1 --eval-n 16       # wiring check on a CPU

For each student (default cifar_resnet18 and cifar_mobilenetv2, 32px, batch 512, robust teacher wrn_34_10,
clean teacher resnet56), in one process and on the same batch, the paths alternate step by step:
  reference  the authors' plain CIARD loop (`bench_ciard_step.ReferenceStep`): fp32 eager, parameter
             gradients in the attack, separate teacher forwards, host scalars. PyTorch's defaults apply
             (cuDNN may use TF32 for fp32 convolutions; both flags are recorded).
  ours       the trainer's step around `compressor.methods.ciard.CIARD` with the trainer's defaults for the
             device (`resolve_speed`; on CUDA: bf16 autocast, channels_last, torch.compile of the three
             models; on a CPU: fp32 eager), the clean CIARD default; --precision/--compile/--channels-last
             override them.
  ours-fp32  (with --variants) the same step in fp32 eager: separates algorithmic from precision gains.
FLOPs of one step are counted with PyTorch's FLOP formulas (`torch.utils.flop_counter`) on an eager copy at a small
batch and scaled linearly to --batch (convolution and matmul FLOPs are linear in the batch); MFU = counted
FLOPs / median step time / the device's dense bf16 peak (datasheet figure, or --peak-tflops). A measured
bf16 matmul ceiling (8192^3) is recorded beside it. Peak memory: `max_memory_allocated` over one step.
Evaluation throughput: images/s of PGD-20 in fp32 as `compressor evaluate` runs it, with every image kept
for all 20 steps (no early drop-out: the cost on a fully robust model, so a lower bound), and the same under
bf16 autocast when our step runs in bf16. AutoAttack throughput on trained models: bench_autoattack.py and the MNIST comparison.
One JSON line per student is appended to --out; a short table is printed last.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import conv_flop_count, flop_registry

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from bench_ciard_step import OurStep, ReferenceStep, timed  # noqa: E402
from records import cuda_fields  # noqa: E402

from compressor.attacks.ascent import ascend, random_start  # noqa: E402
from compressor.config.schema import ModelSpec, TrainConfig  # noqa: E402
from compressor.engine.precision import Speed, resolve_speed  # noqa: E402
from compressor.evaluation.environment import environment  # noqa: E402
from compressor.models.factory import create_classifier  # noqa: E402

# Dense (no sparsity) bf16 tensor-core peaks from the vendors' datasheets, TFLOP/s, by device-name fragment.
BF16_PEAK_TFLOPS = {"H200": 989.4, "H100 PCIe": 756.0, "H100 NVL": 835.0, "H100": 989.4, "A100": 312.0,
                    "L40S": 362.1, "L4": 121.0, "A10G": 70.0}  # fmt: skip
Step = Callable[[Tensor, Tensor], object]


def bf16_peak(device: torch.device, override: float | None) -> float | None:
    """The device's dense bf16 peak in FLOP/s (None on a CPU or an unknown GPU without --peak-tflops)."""
    if override:
        return override * 1e12
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((tf * 1e12 for key, tf in BF16_PEAK_TFLOPS.items() if key in name), None)


def matmul_ceiling(device: torch.device, n: int = 8192, reps: int = 20) -> float | None:
    """Measured bf16 matmul FLOP/s on random data (CUDA events, median of `reps`); None on a CPU."""
    if device.type != "cuda":
        return None
    a, b = (torch.randn(n, n, device=device, dtype=torch.bfloat16) for _ in range(2))
    for _ in range(3):
        a @ b
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        a @ b
        end.record()
        torch.cuda.synchronize(device)
        times.append(start.elapsed_time(end) / 1e3)
    return 2 * n**3 / statistics.median(times)


def build_models(
    names: tuple[str, str, str], num_classes: int, device: torch.device
) -> tuple[nn.Module, ...]:
    """Student, robust teacher, clean teacher with seeded random weights (speed does not depend on them)."""
    torch.manual_seed(0)
    specs = [ModelSpec(name=n) for n in names]
    return tuple(create_classifier(s, num_classes=num_classes, in_chans=3).to(device) for s in specs)


def make_ours(models: tuple[nn.Module, ...], speed: Speed | None) -> OurStep:
    """Our step as the trainer runs it with `speed` (None: fp32 eager)."""
    models = copy.deepcopy(models)
    if speed is not None and speed.channels_last:
        models = tuple(m.to(memory_format=torch.channels_last) for m in models)
    if speed is not None and speed.compile:
        models = tuple(torch.compile(m) for m in models)
    precision = "bf16" if speed is not None and speed.dtype is torch.bfloat16 else "fp32"
    return OurStep(models, next(models[0].parameters()).device, precision, clean=True)


def trainer_speed(args: argparse.Namespace, device: torch.device) -> Speed:
    """The trainer's speed settings for this device (its defaults unless the flags say otherwise)."""
    flag = {"auto": "auto", "on": True, "off": False}
    cfg = TrainConfig(
        precision=args.precision, compile=flag[args.compile], channels_last=flag[args.channels_last]
    )
    return resolve_speed(cfg, device)


class _FlopCount(TorchDispatchMode):
    """Sums PyTorch's FLOP formulas (`flop_registry`: convolutions, matmuls, attention) over dispatched ops.

    FlopCounterMode itself cannot be used: its module tracker breaks `autograd.grad` w.r.t. an input leaf,
    which is how the attack takes its gradients. Convolution backward is counted here: each gradient asked
    for (input, weight) costs the forward's FLOPs; PyTorch's formula counts a grouped convolution's weight
    gradient `groups` times too often (65x for a 64-channel depthwise 3x3, measured with torch 2.14).
    """

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func._overloadpacket is torch.ops.aten.convolution_backward:
            grad_out, x, weight, *_, transposed, _, _, mask = args
            forward = conv_flop_count(x.shape, weight.shape, grad_out.shape, transposed)
            self.total += forward * (int(mask[0]) + int(mask[1]))
            return out
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += formula(*args, **kwargs, out_val=out)
        return out


def count_flops(step: Step, x: Tensor, y: Tensor, scale: float) -> float:
    """FLOPs of one step (forward and backward, every model), counted at x's batch, times `scale`."""
    with _FlopCount() as counter:
        step(x, y)
    return counter.total * scale


def peak_memory(step: Step, x: Tensor, y: Tensor) -> float | None:
    """Peak GiB allocated during one step (CUDA only)."""
    if x.device.type != "cuda":
        return None
    torch.cuda.synchronize(x.device)
    torch.cuda.reset_peak_memory_stats(x.device)
    step(x, y)
    torch.cuda.synchronize(x.device)
    return torch.cuda.max_memory_allocated(x.device) / 2**30


def pgd20_full_rate(model: nn.Module, x: Tensor, y: Tensor, dtype: torch.dtype | None, reps: int) -> float:
    """Images/s of 20 PGD steps (eps 8/255, step eps/4) with no early drop-out, median of `reps`."""
    eps = 8 / 255

    def objective(z: Tensor, index: Tensor) -> tuple[Tensor, None]:
        with torch.autocast(x.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            logits = model(z)
        return F.cross_entropy(logits.float(), y[index], reduction="none"), None

    def run() -> None:
        ascend(objective, x, random_start(x, eps, "linf", "uniform"), eps=eps, alpha=eps / 4, steps=20)

    run()  # warm-up
    return len(y) / statistics.median(_wall(run, x.device) for _ in range(reps))


def _wall(fn: Callable[[], object], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def profile_ours(step: Step, x: Tensor, y: Tensor, path: Path) -> None:
    """Write the top operators of two profiled steps (by device time) to `path`."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if x.device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(2):
            step(x, y)
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)
    key = "self_device_time_total" if x.device.type == "cuda" else "self_cpu_time_total"
    path.write_text(prof.key_averages().table(sort_by=key, row_limit=40))


def bench_student(student: str, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """Time every path for one student; return the JSON record."""
    speed = trainer_speed(args, device)
    models = build_models((student, args.teacher_robust, args.teacher_clean), args.num_classes, device)
    g = torch.Generator().manual_seed(0)
    shape = (args.batch, 3, args.image_size, args.image_size)
    x = (0.05 + 0.9 * torch.rand(shape, generator=g)).to(device)
    y = torch.randint(0, args.num_classes, (args.batch,), generator=g).to(device)
    n_count = min(args.batch, args.flop_batch)
    flops = {
        "reference": count_flops(ReferenceStep(*copy.deepcopy(models), attack="backward"), x[:n_count],
                                 y[:n_count], args.batch / n_count),
        "ours": count_flops(make_ours(models, None), x[:n_count], y[:n_count], args.batch / n_count),
    }  # fmt: skip
    paths: dict[str, Step] = {
        "reference": ReferenceStep(*copy.deepcopy(models), attack="backward"),
        "ours": make_ours(models, speed),
    }
    if args.variants:
        paths["ours-fp32"] = make_ours(models, None)
    x_ours = x.contiguous(memory_format=torch.channels_last) if speed.channels_last else x
    inputs = {name: (x_ours if name == "ours" else x) for name in paths}
    for name, step in paths.items():  # compile and cuDNN autotuning stay out of the timings
        seconds = _wall(partial(step, inputs[name], y), device)
        print(f"  {student} {name}: first step {seconds:.1f} s", flush=True)
    memory = {name: peak_memory(step, inputs[name], y) for name, step in paths.items()}
    rates = timed([partial(step, inputs[name], y) for name, step in paths.items()], args.warmup, args.steps,
                  args.batch, device.type == "cuda")  # fmt: skip
    rate = dict(zip(paths, rates, strict=True))
    if args.profile_dir is not None:
        profile_ours(paths["ours"], x_ours, y, args.profile_dir / f"profile-{student}.txt")
    peak = bf16_peak(device, args.peak_tflops)
    per_image = {k: v / args.batch for k, v in flops.items()}
    achieved = {
        name: per_image["ours" if name.startswith("ours") else "reference"] * r for name, r in rate.items()
    }
    record: dict[str, Any] = {
        "student": student, "teacher_robust": args.teacher_robust, "teacher_clean": args.teacher_clean,
        "batch": args.batch, "image_size": args.image_size,
        "ours_settings": {"precision": str(speed.dtype or "fp32"), "channels_last": speed.channels_last,
                          "compile": speed.compile},
        "images_per_s": {k: round(v, 1) for k, v in rate.items()},
        "ratio_ours_over_reference": round(rate["ours"] / rate["reference"], 3),
        "gflop_per_image": {k: round(v / 1e9, 2) for k, v in per_image.items()},
        "achieved_tflops": {k: round(v / 1e12, 2) for k, v in achieved.items()},
        "bf16_peak_tflops": None if peak is None else round(peak / 1e12, 1),
        "mfu": None if peak is None else {k: round(v / peak, 4) for k, v in achieved.items()},
        "peak_memory_gib": {k: None if v is None else round(v, 2) for k, v in memory.items()},
    }  # fmt: skip
    if args.eval_n:
        model = copy.deepcopy(models[0]).eval()
        xe, ye = x[: args.eval_n], y[: args.eval_n]
        rates = {"fp32": round(pgd20_full_rate(model, xe, ye, None, args.eval_reps), 1)}
        if speed.dtype is torch.bfloat16:  # bf16 only where the trainer uses it (CPU autocast is slow here)
            rates["bf16"] = round(pgd20_full_rate(model, xe, ye, torch.bfloat16, args.eval_reps), 1)
        record["pgd20_no_dropout_images_per_s"] = rates
    return record


def main(argv: list[str] | None = None) -> None:
    """Parse flags, benchmark each student, append JSON lines, print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--students", default="cifar_resnet18,cifar_mobilenetv2")
    p.add_argument("--teacher-robust", default="wrn_34_10")
    p.add_argument("--teacher-clean", default="resnet56")
    p.add_argument("--num-classes", type=int, default=10)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=10, help="timed steps per path (median)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps per path after the first")
    p.add_argument("--flop-batch", type=int, default=32, help="batch at which FLOPs are counted, then scaled")
    p.add_argument(
        "--precision", choices=["auto", "fp32", "bf16"], default="auto", help="ours (auto: trainer's)"
    )
    p.add_argument("--compile", choices=["auto", "on", "off"], default="auto", help="ours (auto: on on CUDA)")
    p.add_argument(
        "--channels-last", choices=["auto", "on", "off"], default="auto", help="ours (auto: on CUDA)"
    )
    p.add_argument("--variants", action="store_true", help="also time our step in fp32 eager")
    p.add_argument("--peak-tflops", type=float, default=None, help="dense bf16 peak, if not in the table")
    p.add_argument("--eval-n", type=int, default=512, help="images for the PGD-20 throughput (0: skip)")
    p.add_argument("--eval-reps", type=int, default=3)
    p.add_argument("--profile-dir", type=Path, default=None, help="write a profile of our step per student")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    p.add_argument("--out", type=Path, default=Path(__file__).with_name("results.jsonl"))
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    env = {**environment(device, ("torch", "timm")), **cuda_fields(), "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
           "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32}  # fmt: skip
    ceiling = matmul_ceiling(device)
    command = " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])])
    records = []
    for student in args.students.split(","):
        print(f"{student}: timing on {env['device']}", flush=True)
        record = {"bench": "train_throughput", "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "command": command, **env, "bf16_matmul_tflops_measured": None if ceiling is None else
                  round(ceiling / 1e12, 1), "student": student}  # fmt: skip
        try:
            record.update(bench_student(student, args, device))
            record["load_average_1m_after"] = round(os.getloadavg()[0], 2)  # other processes on the machine
            records.append(record)
        except torch.OutOfMemoryError as exc:  # recorded, and the next student still runs
            record["error"] = f"out of memory: {str(exc).splitlines()[0]}"
            torch.cuda.empty_cache()
        with args.out.open("a") as f:
            f.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)
    print(
        f"\n{'student':<20}{'ref img/s':>10}{'ours img/s':>11}{'ratio':>7}{'MFU ours':>9}{'mem ref/ours GiB':>18}"
    )
    for r in records:
        mfu = "-" if r["mfu"] is None else f"{100 * r['mfu']['ours']:.1f}%"
        mem = r["peak_memory_gib"]
        print(f"{r['student']:<20}{r['images_per_s']['reference']:>10.1f}{r['images_per_s']['ours']:>11.1f}"
              f"{r['ratio_ours_over_reference']:>6.2f}x{mfu:>9}{str(mem['reference']) + '/' + str(mem['ours']):>18}")  # fmt: skip


if __name__ == "__main__":
    main()
