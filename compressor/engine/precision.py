"""Device, mixed precision, channels_last and compile decisions, resolved once from the recipe."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, cast

import torch
from torch import nn

from compressor.config.schema import TrainConfig
from compressor.engine.cpu_bf16 import MIN_SPEEDUP, bf16_isa, bf16_unsafe_convolutions, measured_timing
from compressor.errors import UserInputError

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """`auto` means the local GPU if there is one, else the CPU."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserInputError(
            f"run.device is '{name}' but no CUDA device is visible; use run.device=cpu or auto"
        )
    return torch.device(name)


@dataclass(frozen=True)
class Speed:
    """How the hot loop runs: autocast dtype (None = fp32), channels_last, torch.compile, and why that dtype.

    `measure` marks a CPU `auto` the ISA could not settle: it runs in fp32 until `for_model` has timed the
    model's own training step (each training stage resolves its model before training). `auto`: the
    precision was chosen by `train.precision: auto` (it may then fall back to fp32), not set by the recipe.
    """

    dtype: torch.dtype | None
    channels_last: bool
    compile: bool
    device: torch.device
    reason: str = "set by train.precision"
    measure: bool = False
    auto: bool = False

    @property
    def precision(self) -> str:
        """'fp32', 'bf16' or 'fp16': the autocast dtype by name."""
        return next(name for name, dtype in DTYPES.items() if dtype is self.dtype)

    def describe(self) -> dict[str, Any]:
        """The precision and why, and the layout and compile settings, for metrics.jsonl and the report."""
        return {
            "precision": self.precision,
            "reason": self.reason,
            "channels_last": self.channels_last,
            "compile": self.compile,
        }

    def line(self) -> str:
        """One console line: the precision and why, and whether torch.compile is on."""
        return f"{self.precision} ({self.reason}){'; torch.compile' if self.compile else ''}"

    def for_model(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Speed:
        """This speed, with a pending CPU `auto` settled by timing `model`'s training step on (x, y)."""
        if not self.measure:
            return self
        timing, cached = measured_timing(model, self.prepare_batch(x.to(self.device)), y.to(self.device))
        faster = timing.speedup >= MIN_SPEEDUP
        source = "cached measurement" if cached else "measured now"
        reason = (
            f"auto: AVX-512 BF16 without AMX; this model's training step ({timing.images} images, "
            f"{source}) takes {timing.fp32_ms:.1f} ms in fp32 and {timing.bf16_ms:.1f} ms in bf16 "
            f"({timing.speedup:.2f}x; bf16 needs >= {MIN_SPEEDUP}x)"
        )
        return replace(self, dtype=torch.bfloat16 if faster else None, reason=reason, measure=False)

    def with_bf16_shapes_checked(self, model: nn.Module, x: torch.Tensor) -> Speed:
        """This speed, unless CPU bf16 would train `model` wrong on inputs like `x`: a convolution striding
        past its input's edge (`cpu_bf16.bf16_unsafe_convolutions`). Then `auto` falls back to fp32, the
        reason naming the layer, and an explicit `bf16` is refused before the first step."""
        if self.dtype is not torch.bfloat16 or self.device.type != "cpu":
            return self
        unsafe = bf16_unsafe_convolutions(model, self.prepare_batch(x.to(self.device)))
        if not unsafe:
            return self
        defect = (
            f"convolution '{unsafe[0]}' strides past its input's edge, where the CPU's bf16 weight gradient "
            "is wrong (oneDNN reads uninitialised memory; fp32 is exact)"
        )
        if not self.auto:
            raise UserInputError(f"train.precision=bf16: {defect}; use train.precision=auto or fp32")
        return replace(self, dtype=None, reason=f"auto: fp32, since {defect}")

    def autocast(self) -> Callable[[], AbstractContextManager[Any]]:
        """A factory of autocast contexts for forward passes (a no-op in fp32)."""
        if self.dtype is None:
            return nullcontext
        return partial(torch.autocast, device_type=self.device.type, dtype=self.dtype)

    def prepare(self, model: nn.Module) -> nn.Module:
        """Move a model to the device in the chosen memory format."""
        model = model.to(self.device)
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    def prepare_batch(self, x: torch.Tensor) -> torch.Tensor:
        """An image batch in the chosen memory format (other tensors unchanged)."""
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.dim() == 4 else x


def _auto_precision(device: torch.device, cpu: dict[str, Any] | None) -> tuple[str, str, bool]:
    """`auto`'s precision, the reason, and whether the model's step must be timed to settle it."""
    if device.type == "cuda":
        return "bf16", "auto: bf16 autocast on CUDA", False
    isa = bf16_isa(cpu)
    if isa == "amx":
        return "bf16", "auto: this CPU has AMX-BF16 (bf16 matrix tiles, 2-3x faster training steps)", False
    if isa == "avx512_bf16":
        return "fp32", "auto: AVX-512 BF16 without AMX; to be timed on the model", True
    return "fp32", "auto: this CPU has no bf16 instructions (neither AMX-BF16 nor AVX-512 BF16)", False


def resolve_speed(cfg: TrainConfig, device: torch.device, cpu: dict[str, Any] | None = None) -> Speed:
    """Defaults: channels_last everywhere; on CUDA also bf16 and compile; on the CPU bf16 where it pays.

    On the CPU `auto` means bf16 autocast with AMX-BF16, fp32 without bf16 instructions, and with AVX-512
    BF16 alone whatever a timed training step of the model says (`Speed.for_model`). `cpu`: the CPU
    summary (`compressor_edge.machine.cpu_info()`, the default).

    channels_last is the CPU default too: oneDNN convolutions run faster on it (our CIARD step 1.4-1.7x
    faster with it on an EPYC core, bench_ciard_step.py --channels-last on/off); torch.compile does not
    pay on the CPU (with `--compile` the step fell from 1.48x the reference to 1.02x), so it stays CUDA-only.
    """
    cuda = device.type == "cuda"
    precision: str = cfg.precision
    reason, measure, auto = "set by train.precision", False, precision == "auto"
    if auto:
        precision, reason, measure = _auto_precision(device, cpu)
    dtype = DTYPES[precision]
    if dtype is torch.float16 and not cuda:
        raise UserInputError("train.precision=fp16 needs a CUDA device; use bf16 or fp32 on the CPU")
    channels_last = cfg.channels_last if isinstance(cfg.channels_last, bool) else True
    compile_ = cfg.compile if isinstance(cfg.compile, bool) else cuda
    return Speed(dtype, channels_last, compile_, device, reason, measure, auto)


# Every model of a run compiles through the same ModelWrapper.forward, and dynamo counts each model, mode
# (training, evaluation, input-gradient attack) and batch shape against one limit per code object (8 by
# default): a CIARD run whose two teachers differ in architecture reached it and ran its later models eager
# (seen on an H200; tests/engine/test_compile.py reproduces it on the CPU). This covers a run's variants.
RECOMPILE_LIMIT = 64


def maybe_compile(model: nn.Module, speed: Speed) -> nn.Module:
    """torch.compile the model when the recipe (or the CUDA default) asks for it, with room to compile every
    model and mode of a run (`RECOMPILE_LIMIT`)."""
    if not speed.compile:
        return model
    config = torch._dynamo.config
    name = "recompile_limit" if hasattr(config, "recompile_limit") else "cache_size_limit"  # torch < 2.6
    setattr(config, name, max(int(getattr(config, name)), RECOMPILE_LIMIT))
    return cast(nn.Module, torch.compile(model))
