"""Contrastive pre-training of a small open_clip model on captions made from a data set's class names.

Offline stand-in for "a pretrained CLIP": each training image is paired with captions "<template> with its
class name" (several templates per class, one drawn per class per step), and both towers train with
CLIP's symmetric contrastive loss, made class-aware because a batch holds many images of each class:
image -> caption is cross-entropy over the C class captions of the step, caption -> image is
cross-entropy against the uniform distribution over the batch's images of that class (UniCL, Yang et al.
2022). The logit scale is CLIP's learnable temperature. Afterwards the text tower knows the class words,
so the zero-shot head ``ZeroShotClassifier`` builds from it classifies, and other data sets with the same
class names (MNIST for digits) are zero-shot targets.

The `pretrain` stage (compressor.pipeline.stages.pretrain) trains through the one trainer (`fit`): the
model is `ContrastiveClip` (its forward is the zero-shot classifier of the current text tower, so the
trainer's validation measures zero-shot accuracy each epoch), the loss is the `ClipContrastive` method's,
the optimiser AdamW with a cosine schedule and 5% warm-up; the last epoch's weights are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from compressor.config import section_hash
from compressor.config.schema import DataConfig, ModelSpec, OptimConfig, Recipe, ScheduleConfig
from compressor.methods.base import Method, StepOutput
from compressor.models.clip_text import Template, prompt_names

# the optimiser and schedule of pre-training (the `pretrain:` section sets epochs, lr and batch size)
WEIGHT_DECAY, WARMUP_FRACTION = 0.05, 0.05


def _captions(names: Sequence[str], templates: Sequence[Template], generator: torch.Generator) -> list[str]:
    """One caption per class, each with a template drawn at random."""
    picks = torch.randint(len(templates), (len(names),), generator=generator).tolist()
    out = []
    for name, pick in zip(names, picks, strict=True):
        template = templates[pick]
        out.append(template(name) if callable(template) else template.format(name))
    return out


def contrastive_loss(image: Tensor, text: Tensor, y: Tensor, scale: Tensor) -> Tensor:
    """Class-aware symmetric CLIP loss of unit image [B, D] and class-caption [C, D] embeddings."""
    logits = scale * image @ text.T
    image_to_text = F.cross_entropy(logits, y)
    same = F.one_hot(y, text.shape[0]).T.float()  # [C, B]
    present = same.sum(1) > 0
    targets = same[present] / same[present].sum(1, keepdim=True)
    text_to_image = -(targets * F.log_softmax(logits.T[present], dim=1)).sum(1).mean()
    return (image_to_text + text_to_image) / 2


class ContrastiveClip(nn.Module):
    """Both towers of an open_clip model in training: the contrastive loss on a batch, and as forward the
    zero-shot classifier of the current text tower (template-averaged class captions), for validation."""

    def __init__(
        self,
        clip: nn.Module,
        tokenizer: Callable[[list[str]], Tensor],
        class_names: Sequence[str],
        templates: Sequence[Template],
        normalisation: tuple[Sequence[float], Sequence[float]],
        seed: int,
    ) -> None:
        super().__init__()
        self.clip, self.tokenizer, self.templates = clip, tokenizer, templates
        self.names = prompt_names(class_names)
        mean, std = normalisation
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)
        self.generator = torch.Generator().manual_seed(seed)  # the captions' templates

    def _image(self, x: Tensor) -> Tensor:
        return F.normalize(self.clip.encode_image((x - self.mean) / self.std), dim=-1)  # type: ignore[operator]

    def _text(self, captions: list[str], device: torch.device) -> Tensor:
        return F.normalize(self.clip.encode_text(self.tokenizer(captions).to(device)), dim=-1)  # type: ignore[operator]

    def loss(self, x: Tensor, y: Tensor) -> Tensor:
        """The class-aware contrastive loss, one caption per class with a template drawn at random."""
        text = self._text(_captions(self.names, self.templates, self.generator), x.device)
        return contrastive_loss(self._image(x), text, y, self.clip.logit_scale.exp().clamp(max=100))  # type: ignore[operator]

    def forward(self, x: Tensor) -> Tensor:
        """Zero-shot logits: cosine to each class's template-averaged caption embedding."""
        with torch.no_grad():
            per_template = [
                self._text([t(n) if callable(t) else t.format(n) for n in self.names], x.device)
                for t in self.templates
            ]
            head = F.normalize(torch.stack(per_template).mean(0), dim=-1)
        return self._image(x) @ head.T


class ClipContrastive(Method):
    """Pre-training's method for the trainer: no adversary, the contrastive loss of `ContrastiveClip`."""

    name = "clip_contrastive"

    def adversarial(self, x: Tensor, y: Tensor) -> Tensor | None:
        return None

    def loss(self, x: Tensor, y: Tensor, x_adv: Tensor | None) -> StepOutput:
        return StepOutput(self.student.loss(x, y))  # type: ignore[operator]


def pretrain_optim(lr: float) -> tuple[OptimConfig, ScheduleConfig]:
    """AdamW with weight decay 0.05, cosine schedule after a 5% warm-up."""
    optim = OptimConfig(name="adamw", lr=lr, weight_decay=WEIGHT_DECAY)
    return optim, ScheduleConfig(name="cosine", warmup_fraction=WARMUP_FRACTION)


def save_clip(clip: Any, path: Path) -> None:
    """The full open_clip state dict (both towers) as safetensors, written atomically."""
    from compressor_edge.files import atomic_write_bytes
    from safetensors.torch import save

    state = {k: v.detach().contiguous().cpu() for k, v in clip.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, save(state))


def pretrain_key(spec: ModelSpec, data: DataConfig, seed: int) -> str:
    """The name of `spec`'s pre-trained weights: its model name and a digest of everything they depend on."""
    return f"{spec.name}-{section_hash(spec.name, spec.templates, spec.pretrain, data, seed)[:10]}"


def pretraining_models(recipe: Recipe) -> list[ModelSpec]:
    """The recipe's models (teachers, then the student) that have a `pretrain:` section."""
    specs = [t.model for t in recipe.teachers] + [recipe.student]
    return [spec for spec in specs if spec.pretrain is not None]


def with_pretrain_checkpoints(recipe: Recipe, weights: Callable[[str], Path]) -> Recipe:
    """The recipe with `checkpoint:` set on every model that pre-trains here and names no file itself:
    `weights(key)` is where the pre-trained weights of `pretrain_key` live (the pretrain stage's output)."""

    def resolve(spec: ModelSpec) -> ModelSpec:
        if spec.pretrain is None or spec.checkpoint is not None:
            return spec
        return spec.model_copy(
            update={"checkpoint": weights(pretrain_key(spec, recipe.data, recipe.run.seed))}
        )

    teachers = [t.model_copy(update={"model": resolve(t.model)}) for t in recipe.teachers]
    return recipe.model_copy(update={"teachers": teachers, "student": resolve(recipe.student)})
