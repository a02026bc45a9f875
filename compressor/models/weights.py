"""Every weights file in and out (one module): safetensors or weights-only pickles in, safetensors out.

User checkpoints: safetensors or weights-only pickles in, safetensors out, errors in one line.

A pickle that needs code to load (any class beyond tensors and plain containers) could run anything, so it
is refused unless the user sets `trust_pickle`. Training containers (`{"state_dict": ...}`) and wrapper
prefixes (DataParallel/DDP `module.`, `model.`, torch.compile `_orig_mod.`) are unwrapped on the way in.
"""

from __future__ import annotations

import pickle
import pickletools
import re
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from compressor_edge.files import atomic_write_bytes
from safetensors import safe_open
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes
from torch import Tensor, nn

from compressor.errors import UserInputError
from compressor.models.wrapper import unwrap

CONTAINER_KEYS = ("state_dict", "model_state_dict", "model", "net")
WRAPPER_PREFIXES = ("module.", "model.")
ROBUSTBENCH_ARCHS = ("cifar_resnet18", "preact_resnet18", "wrn_28_10", "wrn_34_10")
# Input-normalisation constants some RobustBench files carry; our wrapper holds normalisation instead.
_NORMALISATION_KEYS = frozenset({"mu", "sigma", "normalize.mean", "normalize.std"})


def load_state_dict_file(path: str | Path, *, trust_pickle: bool = False) -> dict[str, Tensor]:
    """The tensors a checkpoint file holds, by name, unwrapped from containers and wrapper prefixes."""
    path = Path(path)
    return _strip_prefixes(_unwrap(_read(path, trust_pickle), path, CONTAINER_KEYS))


def check_checkpoint_file(path: str | Path, *, trust_pickle: bool = False) -> None:
    """Raise the one-line error loading `path` would raise, cheaply: the safetensors header only, or the
    pickle's structure with tensor data memory-mapped, not read. A trusted pickle is not run here."""
    path = Path(path)
    if _is_safetensors(path):
        try:
            with safe_open(str(path), framework="pt") as f:
                f.keys()
        except Exception as err:
            raise UserInputError(
                f"checkpoint {path} is a damaged safetensors file ({err}); save or download it again"
            ) from None
    elif not trust_pickle:
        _read(path, trust_pickle=False, mmap=zipfile.is_zipfile(path))


def load_into(
    model: nn.Module,
    state_dict: Mapping[str, Tensor],
    *,
    strict: bool = True,
    source: str | Path | None = None,
) -> tuple[list[str], list[str]]:
    """Load `state_dict` into `model` (returning torch's missing/unexpected keys), or raise one line naming them."""
    own = model.state_dict()
    problems = []
    misshapen = [
        f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}"
        for k, v in state_dict.items()
        if k in own and v.shape != own[k].shape
    ]
    if misshapen:
        problems.append(
            f"{_keys(len(misshapen))} of another shape (checkpoint vs model: {_preview(misshapen)})"
        )
    if strict:
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if missing:
            problems.append(f"{_keys(len(missing))} missing ({_preview(missing)})")
        if unexpected:
            problems.append(f"{_keys(len(unexpected))} unexpected ({_preview(unexpected)})")
    if problems:
        where = f"checkpoint {source}" if source is not None else "the checkpoint"
        raise UserInputError(
            f"{where} does not fit {type(model).__name__}: {'; '.join(problems)}; "
            "check that the model name, num_classes, in_chans and kwargs match the checkpoint's"
        )
    return model.load_state_dict(state_dict, strict=strict)


def save_state_dict_file(
    path: str | Path, state_dict: Mapping[str, Tensor], *, metadata: Mapping[str, str] | None = None
) -> None:
    """Write `state_dict` as safetensors atomically: readers see the old file or the new one, never a torn one."""
    path = Path(path)
    tensors: dict[str, Tensor] = {}
    storages: set[int] = set()
    for name, value in state_dict.items():
        if not isinstance(value, Tensor):
            raise TypeError(f"state dict entry {name!r} is a {type(value).__name__}, not a tensor")
        tensor = value.detach().cpu().contiguous()
        storage = tensor.untyped_storage().data_ptr()
        if storage in storages and tensor.numel():
            tensor = tensor.clone()  # safetensors refuses tensors that share memory (tied weights)
        storages.add(storage)
        tensors[name] = tensor
    atomic_write_bytes(Path(path), safetensors_bytes(tensors, metadata=dict(metadata) if metadata else None))


def save_weights(model: nn.Module, path: Path) -> None:
    """Save a model's state dict (unwrapped from DDP/compile) as safetensors, atomically."""
    save_state_dict_file(path, unwrap(model).state_dict())


def load_weights(model: nn.Module, path: Path) -> None:
    """Load safetensors weights saved by `save_weights` (the run's own files: exact keys)."""
    unwrap(model).load_state_dict(load_file(str(path)))


def load_robustbench_checkpoint(
    path: str | Path, arch: str, *, trust_pickle: bool = False
) -> dict[str, Tensor]:
    """A RobustBench model file as a state dict for our `arch`, whose parameter names are RobustBench's.

    Unwraps RobustBench's containers and prefixes, drops WideResNet's unused `sub_block1` and any input
    normalisation constants (RobustBench networks take [0,1] pixels; where its code normalises, set the
    recipe's `mean`/`std`). Wong et al.'s PreActResNet-18 needs `shortcut_after_act: false, final_norm: false`.
    """
    if arch not in ROBUSTBENCH_ARCHS:
        raise UserInputError(
            f"RobustBench checkpoints load into {', '.join(ROBUSTBENCH_ARCHS)}, not '{arch}'; "
            "set the model name to the checkpoint's architecture"
        )
    path = Path(path)
    state = _strip_prefixes(_unwrap(_read(path, trust_pickle), path, (*CONTAINER_KEYS, "last")))
    if "logits.weight" in state or "init_conv.weight" in state:
        raise UserInputError(
            f"checkpoint {path} is a DeepMind-style WideResNet (keys init_conv/logits, Gowal et al. / Rebuffi "
            "et al.), which compressor does not implement; pick a RobustBench entry built on WideResNet, "
            "ResNet-18 or PreActResNet-18"
        )
    return {
        k: v for k, v in state.items() if k not in _NORMALISATION_KEYS and not k.startswith("sub_block1.")
    }


def _read(path: Path, trust_pickle: bool, mmap: bool = False) -> Any:
    """The object a checkpoint file holds: safetensors by content, else a (weights-only) pickle."""
    if not path.is_file():
        raise UserInputError(
            f"checkpoint {path} not found (relative paths start at {Path.cwd()}); check the path"
        )
    if _is_safetensors(path):
        try:
            return load_file(path, device="cpu")
        except Exception as err:
            raise UserInputError(
                f"checkpoint {path} is a damaged safetensors file ({err}); save or download it again"
            ) from err
    try:
        return torch.load(path, map_location="cpu", weights_only=not trust_pickle, mmap=mmap)
    except pickle.UnpicklingError as err:
        refused = _refused(path, err) if not trust_pickle else None  # refused, not damaged
        if refused is not None:
            raise refused from None
        raise _unreadable(path, err) from err
    except Exception as err:
        raise _unreadable(path, err) from err


def _is_safetensors(path: Path) -> bool:
    """Whether the file starts like safetensors: a little-endian header length, then a JSON object."""
    with path.open("rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < path.stat().st_size


_CODE_OPS = {"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "REDUCE", "NEWOBJ", "NEWOBJ_EX"}


def _code_in_pickle(path: Path) -> str | None:
    """What a plain pickle file would import or call to load (scanned, never run); None if not a pickle."""
    try:
        ops = list(pickletools.genops(path.read_bytes()))
    except Exception:
        return None
    strings = [arg for _, arg, _ in ops if isinstance(arg, str)]
    for op, arg, _ in ops:
        if op.name in ("GLOBAL", "INST"):
            return str(arg).replace(" ", ".")
        if op.name in _CODE_OPS:
            return ".".join(strings[-2:]) if op.name == "STACK_GLOBAL" and len(strings) >= 2 else op.name
    return None


def _refused(path: Path, err: Exception) -> UserInputError | None:
    """The error for a pickle a weights-only load refuses because it runs code to load (None: damaged)."""
    blocked = re.search(r"GLOBAL ([\w.]+)", str(err))
    code = blocked.group(1) if blocked else _code_in_pickle(path)
    if code is None:
        return None
    return UserInputError(
        f"checkpoint {path} was refused: it is a pickle that runs code when loaded (it calls {code}), and a "
        "weights-only load allows only tensors and plain containers; if you trust its source, set "
        "`trust_pickle: true` on this model in the recipe (trust_pickle=True in Python), or re-save it as "
        "safetensors"
    )


def _unreadable(path: Path, err: Exception) -> UserInputError:
    """The error for a file that is neither safetensors nor a loadable PyTorch checkpoint."""
    lines = str(err).splitlines()
    detail = "not a valid pickle" if isinstance(err, pickle.UnpicklingError) or not lines else lines[0][:120]
    return UserInputError(
        f"checkpoint {path} is not a readable safetensors or PyTorch file ({type(err).__name__}: {detail}); "
        "check that it is the file you meant and that it was fully written"
    )


def _unwrap(obj: Any, path: Path, containers: Iterable[str]) -> dict[str, Tensor]:
    """The state dict inside a checkpoint object (a model, or a dict holding one under a container key)."""
    containers = tuple(containers)
    while True:
        if isinstance(obj, nn.Module):
            obj = obj.state_dict()
        if not isinstance(obj, Mapping):
            break
        inner = next((obj[k] for k in containers if isinstance(obj.get(k), Mapping | nn.Module)), None)
        if inner is not None:
            obj = inner
        elif obj and all(isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items()):
            return dict(obj)
        else:
            break
    found = (
        f"a dict with keys {_preview([str(k) for k in obj])}"
        if isinstance(obj, Mapping)
        else f"a {type(obj).__name__}"
    )
    raise UserInputError(
        f"checkpoint {path} holds no state dict (found {found}); expected tensors by name, "
        f"or a dict holding them under one of: {', '.join(containers)}"
    )


def _strip_prefixes(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Drop torch.compile's `_orig_mod.` and any wrapper prefix that every key shares."""
    state = {k.replace("_orig_mod.", ""): v for k, v in state.items()}
    while prefix := next((p for p in WRAPPER_PREFIXES if all(k.startswith(p) for k in state)), None):
        state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def _keys(count: int) -> str:
    """'1 key' or 'N keys'."""
    return f"{count} key" if count == 1 else f"{count} keys"


def _preview(items: list[str], limit: int = 4) -> str:
    """The first few items, then how many more."""
    shown = ", ".join(items[:limit])
    return f"{shown}, +{len(items) - limit} more" if len(items) > limit else shown
