"""Whether bf16 autocast pays on this CPU: from its ISA, or a one-off timed training step cached per machine.

AMX (amx_bf16) runs bf16 matrix products on tiles, far faster than fp32 (2-3x per training step measured on
a Xeon); without any bf16 instruction autocast only adds conversions. AVX-512 BF16 without AMX sits between:
on EPYC cores small_cnn at 28x28 trained 1.5-2.1x faster in bf16, tiny_cnn at 28x28 1.04x, so
there the model's own step is timed once, fp32 against bf16 interleaved, and the verdict cached in a JSON
file keyed by CPU model, ISA flags, torch version, threads and the model's signature
(``$COMPRESSOR_CACHE_DIR``, default ``~/.cache/compressor``).

Faster is not enough: bf16 must also be right. On an AMX Xeon (torch 2.14, oneDNN) the bf16 weight gradient
of a convolution whose stride exceeds its input's width (a stride-2 3x3 on a 1x1 map: an ImageNet ResNet's
last stage on 8x8 digits) comes back with uninitialised memory in the taps that see only padding: up to 1e34
times the true gradient, non-finite in half the steps, while fp32 is exact and every other shape tried agrees
with fp32 to bf16's rounding (tests/engine/test_bf16_convolutions.py). The garbage depends on what the memory
held, so comparing a step's gradients cannot catch it reliably; the shape can (`bf16_unsafe_convolutions`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from compressor_edge.files import atomic_write_bytes
from compressor_edge.machine import cpu_info
from torch import Tensor, nn

MIN_SPEEDUP = 1.15  # bf16 must beat fp32 by this much to be chosen (timing noise must not flip the choice)
MEASURE_ROUNDS = 5
WARM_UP_SECONDS, MAX_WARM_UP_ROUNDS = 1.0, 50  # at least 2 rounds, then until a second has passed
MEASURE_IMAGES = 32
CACHE_FILE = "precision.json"
# glibc raises its mmap and trim thresholds (to at most 32 MiB) when a freed block was mmapped: a training
# process gets there with its first large batch or data set, a fresh one has not yet (see settle_allocator)
SETTLING_BLOCK_BYTES = 24 << 20

Bf16Isa = Literal["amx", "avx512_bf16"] | None


def bf16_isa(info: dict[str, Any] | None = None) -> Bf16Isa:
    """'amx' (AMX-BF16 tiles), 'avx512_bf16' (bf16 dot products, no AMX) or None (neither) for this CPU."""
    isa = (info or cpu_info())["isa"]
    if isa.get("amx_bf16"):
        return "amx"
    return "avx512_bf16" if isa.get("avx512_bf16") else None


@dataclass(frozen=True)
class StepTiming:
    """Median milliseconds of one training step in each precision, and what was timed."""

    fp32_ms: float
    bf16_ms: float
    images: int
    rounds: int

    @property
    def speedup(self) -> float:
        """fp32 time over bf16 time (above 1: bf16 is faster)."""
        return self.fp32_ms / self.bf16_ms


def step_clock() -> Callable[[], float]:
    """CPU time of this process on one thread (a busy machine's preemptions cannot favour either precision:
    interleaved wall-clock medians of a 2 ms step were seen to lock onto the scheduler's slices), wall time
    with several threads (their CPU time would count idle spinning)."""
    return time.process_time if torch.get_num_threads() == 1 else time.perf_counter


def settle_allocator() -> None:
    """Put the C allocator where a training process settles, so a timing made early in a process holds for
    its whole run.

    Until glibc frees one large mmapped block it returns a step's activations to the OS and faults them in
    again on every step: on an EPYC core that made tiny_cnn's fp32 step at 28x28 take 1.5x its settled time
    while bf16, half the bytes, lost less, so a fresh process measured bf16 1.3-1.7x faster where a
    training run, settled by its data set, measured 1.04-1.08x. One freed 24 MiB block settles it (other
    allocators ignore it).
    """
    block = torch.empty(SETTLING_BLOCK_BYTES, dtype=torch.uint8)
    del block


def time_training_step(model: nn.Module, x: Tensor, y: Tensor, rounds: int = MEASURE_ROUNDS) -> StepTiming:
    """Forward, cross-entropy, backward and an SGD step on a copy of `model`, fp32 and bf16 interleaved,
    timed with `step_clock` once the allocator is settled (`settle_allocator`).

    The model, its BatchNorm statistics and the global random state are left as they were.
    """
    settle_allocator()
    trial = copy.deepcopy(model).train()
    optimizer = torch.optim.SGD(trial.parameters(), lr=0.0)
    times: dict[bool, list[float]] = {False: [], True: []}

    clock = step_clock()

    def step(bf16: bool) -> float:
        start = clock()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = trial(x)
        loss = F.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return clock() - start

    with torch.random.fork_rng(devices=[]):
        warm_up = time.perf_counter() + WARM_UP_SECONDS
        for i in range(MAX_WARM_UP_ROUNDS):  # oneDNN's first calls are slow, for small steps dozens of them
            if i >= 2 and time.perf_counter() > warm_up:
                break
            for bf16 in (False, True):
                step(bf16)
        for _ in range(rounds):
            for bf16 in (False, True):
                times[bf16].append(step(bf16))
    return StepTiming(
        1000 * statistics.median(times[False]), 1000 * statistics.median(times[True]), len(y), rounds
    )


def strides_past_input(conv: nn.Conv2d, height: int, width: int) -> bool:
    """Whether `conv` on a `height` x `width` input strides past the input's edge with a kernel wider than one
    tap in that direction: the shape whose bf16 weight gradient oneDNN gets wrong (see the module docstring)."""
    kernel, stride = conv.kernel_size, conv.stride
    return any(s > size and k > 1 for s, size, k in zip(stride, (height, width), kernel, strict=True))


def bf16_unsafe_convolutions(model: nn.Module, x: Tensor) -> list[str]:
    """The convolutions of `model` that stride past their input's edge on a batch like `x` (one fp32
    forward without gradients, in eval mode; the model is left as it was)."""
    found: list[str] = []
    hooks = [
        module.register_forward_hook(
            lambda conv, inputs, _out, name=name: (
                found.append(name) if strides_past_input(conv, *inputs[0].shape[-2:]) else None
            )
        )
        for name, module in model.named_modules()
        if isinstance(module, nn.Conv2d)
    ]
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(x[:1])
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return found


def cache_path() -> Path:
    """The per-machine cache of measured verdicts ($COMPRESSOR_CACHE_DIR or ~/.cache/compressor)."""
    root = os.environ.get("COMPRESSOR_CACHE_DIR") or Path.home() / ".cache" / "compressor"
    return Path(root) / CACHE_FILE


def model_signature(model: nn.Module, x: Tensor) -> str:
    """Class, parameter shapes and input shape: what decides the step's kernels."""
    shapes = ";".join(f"{name}:{tuple(p.shape)}" for name, p in model.named_parameters())
    digest = hashlib.sha256(shapes.encode()).hexdigest()[:16]
    layout = "channels_last" if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) else ""
    return f"{type(model).__name__} {digest} input {tuple(x.shape)} {layout}".strip()


def cache_key(signature: str) -> str:
    """Everything a measured verdict depends on: CPU, ISA flags, torch, threads, the clock and the model."""
    info = cpu_info()
    flags = "+".join(flag for flag, on in info["isa"].items() if on)
    clock = step_clock().__name__
    machine = f"{info['model']} [{flags}] torch {torch.__version__} threads {torch.get_num_threads()}"
    return f"{machine} {clock} settled | {signature}"


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):  # missing or torn: measure again
        return {}
    return data if isinstance(data, dict) else {}


def measured_timing(model: nn.Module, x: Tensor, y: Tensor) -> tuple[StepTiming, bool]:
    """The cached timing of this model's step on this machine, or a fresh one (then cached); and whether cached."""
    path, key = cache_path(), cache_key(model_signature(model, x))
    cache = _read_cache(path)
    entry = cache.get(key)
    if isinstance(entry, dict):
        try:
            return StepTiming(**entry), True
        except TypeError:
            pass
    timing = time_training_step(model, x, y)
    cache[key] = asdict(timing)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, (json.dumps(cache, indent=1, sort_keys=True) + "\n").encode())
    except OSError:  # a read-only home: the verdict still holds for this run
        pass
    return timing, False
