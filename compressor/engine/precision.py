"""Device, mixed precision, channels_last and compile decisions, resolved once from the recipe."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

import torch
from torch import nn

from compressor.config.schema import TrainConfig
from compressor.errors import UserInputError


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
    """How the hot loop runs: autocast dtype (None = fp32), channels_last, torch.compile."""

    dtype: torch.dtype | None
    channels_last: bool
    compile: bool
    device: torch.device

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


def resolve_speed(cfg: TrainConfig, device: torch.device) -> Speed:
    """Defaults: channels_last everywhere; on CUDA also bf16 and compile; on CPU fp32 eager.

    channels_last is the CPU default too: oneDNN convolutions run faster on it (our CIARD step 1.4-1.7x
    faster with it on an EPYC core, bench_ciard_step.py --channels-last on/off); torch.compile does not
    pay on the CPU (with `--compile` the step fell from 1.48x the reference to 1.02x), so it stays CUDA-only.
    """
    cuda = device.type == "cuda"
    precision = cfg.precision if cfg.precision != "auto" else ("bf16" if cuda else "fp32")
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    if dtype is torch.float16 and not cuda:
        raise UserInputError("train.precision=fp16 needs a CUDA device; use bf16 or fp32 on the CPU")
    channels_last = cfg.channels_last if isinstance(cfg.channels_last, bool) else True
    compile_ = cfg.compile if isinstance(cfg.compile, bool) else cuda
    return Speed(dtype, channels_last, compile_, device)


def maybe_compile(model: nn.Module, speed: Speed) -> nn.Module:
    """torch.compile the model when the recipe (or the CUDA default) asks for it."""
    return cast(nn.Module, torch.compile(model)) if speed.compile else model
