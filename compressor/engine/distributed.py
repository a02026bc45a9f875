"""DDP through torchrun: process-group set-up, rank-0 gating, metric averaging."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job (a single process by default)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        """Wait for every rank (no-op in a single process)."""
        if self.world_size > 1:
            dist.barrier()


def init_from_env() -> DistInfo:
    """Join the process group torchrun describes in the environment (NCCL on GPU, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
    return DistInfo(dist.get_rank(), local, world)


def all_ranks_true(flag: torch.Tensor, info: DistInfo) -> bool:
    """True when `flag` is true on every rank (one collective), so all ranks raise or go on together."""
    if info.world_size <= 1:
        return bool(flag)
    value = flag.detach().to(torch.int32).reshape(1).clone()
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item())


def gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    """Every rank's `obj`, in rank order, on every rank (`[obj]` in a single process)."""
    if info.world_size <= 1:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def all_reduce_mean(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Average a scalar tensor over ranks."""
    if info.world_size > 1:
        value = value.clone()
        dist.all_reduce(value)
        value /= info.world_size
    return value


class EvalBypassDDP(nn.parallel.DistributedDataParallel):
    """DDP whose eval-mode forward (the attack's) skips gradient-sync bookkeeping.

    Buffers (BatchNorm statistics) still become rank 0's before the first eval-mode forward after a
    training forward, as DDP makes them before every training forward: otherwise each rank would attack
    and validate with the statistics of its own last batch, the replicas would differ, and a resumed run
    (which loads rank 0's buffers on every rank) would not continue the way the uninterrupted one does.
    One coalesced broadcast per training step; every rank reaches it, as the attack runs on every rank.
    """

    _buffers_stale = True

    def forward(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not self.training:
            if self._buffers_stale and self.will_sync_module_buffers():
                self._sync_buffers()
            self._buffers_stale = False
            return self.module(*args, **kwargs)
        self._buffers_stale = True
        return super().forward(*args, **kwargs)


def wrap_ddp(model: nn.Module, info: DistInfo) -> nn.Module:
    """Wrap for DDP when running under torchrun; identity otherwise."""
    if info.world_size <= 1:
        return model
    device_ids = [info.local_rank] if torch.cuda.is_available() else None
    return EvalBypassDDP(model, device_ids=device_ids)
