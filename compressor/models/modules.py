"""Your own `nn.Module` as a recipe's student or teacher (Python API): it joins timm's registry by name.

The name is `module_<digest>`, a digest of the module's structure and weights, so the same module gets the
same name (and up-to-date stages stay up to date) across calls. Each build is a deep copy of the module, on
[0,1] pixels as given (no normalisation is added). The registry lives in this process only: a run made
from a module continues from Python with the same module, not from the command line.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import timm
from timm.models import register_model
from torch import nn

from compressor.errors import UserInputError

_REGISTERED: set[str] = set()


def register_module(module: nn.Module, what: str) -> str:
    """The timm name under which `module` can now be named in a recipe (`what` names it in errors)."""
    if not isinstance(module, nn.Module):
        raise UserInputError(f"{what} must be a torch.nn.Module, got {type(module).__name__}")
    name = f"module_{_digest(module)}"
    if timm.is_model(name):
        return name
    original = copy.deepcopy(module).cpu()

    def build(pretrained: bool = False, **kwargs: Any) -> nn.Module:
        del (
            pretrained,
            kwargs,
        )  # the module fixes its classes and channels; a wrong fit fails where it is used
        return copy.deepcopy(original)

    build.__name__ = name
    register_model(build)
    _REGISTERED.add(name)
    return name


def is_own_module(name: str) -> bool:
    """Whether `name` is a module given from Python: it takes the data's channels as they come."""
    return name in _REGISTERED


def _digest(module: nn.Module) -> str:
    """A short hash of the module's structure and its parameters and buffers."""
    digest = hashlib.sha256(repr(module).encode())
    for key, tensor in module.state_dict().items():
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().float().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]
