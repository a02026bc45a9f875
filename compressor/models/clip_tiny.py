"""Tiny open_clip architectures (random init) for offline tests and smoke runs.

`compressor-tiny-vit`: ViT, 32px, patch 8, width 64, 2 layers. `compressor-tiny-rn`: ModifiedResNet [1,1,1,1],
width 8, 32px. Both have a 1-layer, width-32 text tower over the standard CLIP vocabulary, so open_clip's
bundled tokenizer works without a network. Their configs are the JSON files in `clip_configs/`.
"""

from __future__ import annotations

from pathlib import Path

CONFIG_DIR = Path(__file__).parent / "clip_configs"
TINY_MODELS = tuple(sorted(p.stem for p in CONFIG_DIR.glob("*.json")))


def register_tiny_clips() -> None:
    """Add the tiny architectures to open_clip's model configs (once)."""
    import open_clip

    if not set(TINY_MODELS) <= set(open_clip.list_models()):
        open_clip.add_model_config(CONFIG_DIR)
