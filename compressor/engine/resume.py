"""Atomic, resumable training checkpoints: one folder per save, renamed into place, then pointed to.

A checkpoint folder holds `student.safetensors`, one `teacher_<role>.safetensors` per teacher the method
retrains, `state.pt` (optimiser, scheduler, RNG, epoch, method state), loadable with
`torch.load(weights_only=True)`, and `recipe_parts.json`: a digest of each recipe part the training depends
on, so a resume with a changed recipe is refused instead of continuing a training that never happened. A SIGKILL at any moment leaves either the previous checkpoint or the
new one, never a mix.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from compressor_edge.files import atomic_write_bytes
from torch import nn

from compressor.models.weights import load_weights, save_weights

LATEST = "LATEST"
RECIPE_PARTS = "recipe_parts.json"


def _numpy_words() -> np.ndarray:
    """The 624 state words of numpy's legacy global Mersenne Twister."""
    state = np.random.get_state(legacy=True)
    assert isinstance(state, tuple)
    return state[1]


def rng_state() -> dict[str, Any]:
    """Every RNG a resume must restore."""
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": torch.from_numpy(np.frombuffer(_numpy_words().tobytes(), dtype=np.uint8).copy()),
        "python": torch.tensor(list(random.getstate()[1]), dtype=torch.int64),  # the Mersenne words
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of `rng_state` (numpy/python streams are restored from the saved words)."""
    torch.set_rng_state(state["torch"])
    words = np.frombuffer(state["numpy"].numpy().tobytes(), dtype=np.uint32)
    np.random.set_state(("MT19937", words, 0, 0, 0.0))
    random.setstate((3, tuple(int(v) for v in state["python"].tolist()), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _host_prefix() -> str:
    """Temporary checkpoint folders carry their writer (host, then pid), so no process removes another's."""
    return f".tmp-{socket.gethostname()}-"


def _is_own_leftover(name: str) -> bool:
    """A temporary folder of this process, or of a dead process on this host (a kill mid-save)."""
    if not name.startswith(_host_prefix()):
        return False
    pid_text = name.removeprefix(_host_prefix()).split("-", 1)[0]
    if not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def save_checkpoint(
    folder: Path,
    tag: str,
    student: nn.Module,
    teachers: dict[str, nn.Module],
    state: dict[str, Any],
    recipe_parts: dict[str, str] | None = None,
) -> Path:
    """Write checkpoint `tag` under `folder` atomically and point LATEST at it; drop older ones.

    ``recipe_parts``: the digest of each recipe part the training depends on (see `changed_parts`).
    """
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder, prefix=f"{_host_prefix()}{os.getpid()}-"))
    save_weights(student, tmp / "student.safetensors")
    for role, teacher in teachers.items():
        save_weights(teacher, tmp / f"teacher_{role}.safetensors")
    torch.save(state, tmp / "state.pt")
    (tmp / RECIPE_PARTS).write_text(json.dumps(recipe_parts or {}, indent=2, sort_keys=True))
    final = folder / tag
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    atomic_write_bytes(folder / LATEST, tag.encode())
    for old in folder.iterdir():
        if old.is_dir() and old.name != tag and (old.name.startswith("ckpt-") or _is_own_leftover(old.name)):
            shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(folder: Path) -> Path | None:
    """The folder LATEST points at, if a complete checkpoint exists."""
    pointer = folder / LATEST
    if not pointer.is_file():
        return None
    path = folder / pointer.read_text().strip()
    return path if (path / "state.pt").is_file() else None


def changed_parts(checkpoint: Path, current: dict[str, str]) -> list[str]:
    """The recipe parts whose digest differs from the checkpoint's (none known for older checkpoints)."""
    path = checkpoint / RECIPE_PARTS
    saved = json.loads(path.read_text()) if path.is_file() else {}
    if not saved:
        return []
    return [part for part in {**saved, **current} if saved.get(part) != current.get(part)]


def load_checkpoint(path: Path, student: nn.Module, teachers: dict[str, nn.Module]) -> dict[str, Any]:
    """Load weights into the models and return the training state (weights_only, no pickled code)."""
    load_weights(student, path / "student.safetensors")
    for role, teacher in teachers.items():
        load_weights(teacher, path / f"teacher_{role}.safetensors")
    return torch.load(path / "state.pt", weights_only=True)
