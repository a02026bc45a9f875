"""TeCoA (Mao et al., ICLR 2023, arXiv 2212.07016): text-guided contrastive adversarial training of CLIP.

With the class-text embeddings fixed (the zero-shot head of ``ZeroShotClassifier``), TeCoA's contrastive
loss between an adversarial image and the class prompts is the cross-entropy of the zero-shot logits, and
its attack maximises that same cross-entropy: PGD-AT on the zero-shot classifier. Only the image tower
trains (the text matrix is a buffer). Deviation: the logit scale is this project's fixed 100 (TeCoA
fine-tunes with the model's own, also 100 for OpenAI CLIP).
"""

from __future__ import annotations

from typing import Literal

from compressor.config.methods import Params
from compressor.methods.base import register_method
from compressor.methods.pgd_at import PGDAT
from compressor.methods.registry import register_params


@register_params(single_model=True)
class TeCoAParams(Params):
    """Mao et al. 2023: CE on the zero-shot logits of adversarial images."""

    name: Literal["tecoa"]


@register_method
class TeCoA(PGDAT):
    """CE on the zero-shot logits of PGD examples crafted on that same CE."""

    name = "tecoa"
