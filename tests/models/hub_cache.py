"""Write a Hugging Face Hub cache by hand, in huggingface_hub's own layout, so Hub loads run offline.

$HF_HOME/hub/models--ORG--NAME/{refs/main, blobs/<sha256>, snapshots/<commit>/<file> -> ../../blobs/<sha256>}:
what `hf download` leaves behind, and all `hf_hub_download` reads when HF_HUB_OFFLINE=1.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import save

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def write_repo(hf_home: Path, repo: str, files: Mapping[str, bytes]) -> Path:
    """Put `files` into the cache as `repo`'s main revision; returns the snapshot folder."""
    root = hf_home / "hub" / ("models--" + repo.replace("/", "--"))
    snapshot = root / "snapshots" / COMMIT
    (root / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    (root / "refs").mkdir(exist_ok=True)
    (root / "refs" / "main").write_text(COMMIT)
    for name, content in files.items():
        blob = root / "blobs" / hashlib.sha256(content).hexdigest()
        blob.write_bytes(content)
        link = snapshot / name
        if not link.exists():
            os.symlink(os.path.relpath(blob, link.parent), link)
    return snapshot


def timm_repo_files(model: torch.nn.Module, mean: list[float], std: list[float]) -> dict[str, bytes]:
    """config.json and model.safetensors exactly as timm writes them for the Hub (`timm.models.save_for_hf`)."""
    from timm.models import save_for_hf

    with tempfile.TemporaryDirectory() as folder:
        save_for_hf(model, folder, safe_serialization=True, data_config={"mean": mean, "std": std})
        return {p.name: p.read_bytes() for p in Path(folder).iterdir()}


def weights_file(model: torch.nn.Module) -> bytes:
    """A model's state dict as safetensors bytes (random weights stand in for the released ones)."""
    return save({k: v.contiguous() for k, v in model.state_dict().items()})


def json_file(data: object) -> bytes:
    return json.dumps(data).encode()
