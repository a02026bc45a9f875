"""Tiny open_clip architectures (random init) for offline tests and smoke runs; importing registers them.

`compressor-tiny-vit`: ViT, 32px, patch 8, width 64, 2 layers. `compressor-tiny-rn`: ModifiedResNet [1,1,1,1],
width 8, 32px. Both have a 1-layer, width-32 text tower over the standard CLIP vocabulary, so open_clip's
bundled tokenizer works without a network.
"""

from __future__ import annotations

from pathlib import Path

import open_clip

CONFIG_DIR = Path(__file__).parent
TINY_MODELS = tuple(sorted(p.stem for p in CONFIG_DIR.glob("*.json")))

if not set(TINY_MODELS) <= set(open_clip.list_models()):
    open_clip.add_model_config(CONFIG_DIR)
