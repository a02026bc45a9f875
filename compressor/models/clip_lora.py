"""LoRA adapters (peft) on an open_clip image tower, base weights frozen.

open_clip computes attention with ``nn.MultiheadAttention`` (ViT) and ``F.multi_head_attention_forward``
(ResNet attention pool), both of which read their projection weights directly, so a LoRA wrapper around
those projections would be silently bypassed. As the MMT-ARD code does, each ViT block's attention is
first rewritten as two ``nn.Linear`` layers (``qkv``, ``proj``: same weights, same outputs), which LoRA then
adapts; ResNet towers get LoRA on their convolutions, and targets inside ``attnpool`` are refused.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from compressor.config.schema import LoRAConfig
from compressor.errors import UserInputError

VIT_TARGETS = ["qkv", "proj"]
RESNET_TARGETS = ["conv1", "conv2", "conv3"]


class PlainAttention(nn.Module):
    """Self-attention of an ``nn.MultiheadAttention`` as ``qkv`` and ``proj`` linear layers."""

    def __init__(self, mha: nn.MultiheadAttention) -> None:
        super().__init__()
        if not mha._qkv_same_embed_dim or mha.in_proj_bias is None:
            raise ValueError("only self-attention with packed, biased projections can be rewritten")
        dim = mha.embed_dim
        self.num_heads, self.batch_first = mha.num_heads, mha.batch_first
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.qkv.weight.data.copy_(mha.in_proj_weight.data)
        self.qkv.bias.data.copy_(mha.in_proj_bias.data)
        self.proj.weight.data.copy_(mha.out_proj.weight.data)
        self.proj.bias.data.copy_(mha.out_proj.bias.data)

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        need_weights: bool = False,
        attn_mask: Tensor | None = None,
    ) -> tuple[Tensor, None]:
        """Same call and result as ``nn.MultiheadAttention`` for self-attention (``key is value is query``)."""
        x = query if self.batch_first else query.transpose(0, 1)
        batch, tokens, dim = x.shape
        q, k, v = self.qkv(x).view(batch, tokens, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        out = self.proj(out.transpose(1, 2).reshape(batch, tokens, dim))
        return (out if self.batch_first else out.transpose(0, 1)), None


def rewrite_attention(visual: Any) -> None:
    """Replace every ``nn.MultiheadAttention`` of a ViT tower's blocks by an equivalent ``PlainAttention``."""
    for block in visual.transformer.resblocks:
        if isinstance(block.attn, nn.MultiheadAttention):
            block.attn = PlainAttention(block.attn)


def add_lora(visual: nn.Module, cfg: LoRAConfig) -> None:
    """Inject LoRA adapters into ``visual`` in place; only the adapters keep ``requires_grad``.

    BatchNorm statistics stay frozen with the base weights: ``ZeroShotClassifier.train`` keeps BatchNorm
    layers whose weights do not train in eval mode.
    """
    from peft import LoraConfig, inject_adapter_in_model

    is_vit = hasattr(visual, "transformer")
    if is_vit:
        rewrite_attention(visual)
    targets = list(cfg.target_modules or (VIT_TARGETS if is_vit else RESNET_TARGETS))
    bypassed = [
        n for n, _ in visual.named_modules() if n.startswith("attnpool.") and n.split(".")[-1] in targets
    ]
    if bypassed:
        raise UserInputError(
            f"lora.target_modules hits {bypassed[0]}, which open_clip's attention pool uses by weight only, "
            "so LoRA there would have no effect; target convolutions (conv1, conv2, conv3) instead"
        )
    config = LoraConfig(
        r=cfg.rank,
        lora_alpha=float(cfg.alpha),  # type: ignore[arg-type]  # peft types it int; a float works
        lora_dropout=float(cfg.dropout),
        target_modules=targets,
        bias="none",
    )
    try:
        inject_adapter_in_model(config, visual)
    except ValueError as exc:
        raise UserInputError(f"lora.target_modules {targets}: {str(exc).splitlines()[0]}") from None
    for name, param in visual.named_parameters():
        param.requires_grad_("lora_" in name)
