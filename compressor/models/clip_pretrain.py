"""Contrastive pre-training of a small open_clip model on captions made from a data set's class names.

Offline stand-in for "a pretrained CLIP": each training image is paired with captions "<template> with its
class name" (several templates per class, one drawn per class per step), and both towers train with
CLIP's symmetric contrastive loss, made class-aware because a batch holds many images of each class:
image -> caption is cross-entropy over the C class captions of the step, caption -> image is
cross-entropy against the uniform distribution over the batch's images of that class (UniCL, Yang et al.
2022). The logit scale is CLIP's learnable temperature. Afterwards the text tower knows the class words,
so the zero-shot head ``ZeroShotClassifier`` builds from it classifies, and other data sets with the same
class names (MNIST for digits) are zero-shot targets.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from compressor.config import section_hash
from compressor.config.schema import ClipPretrain, DataConfig, ModelSpec, Recipe
from compressor.data.sources import Split, as_float
from compressor.errors import UserInputError
from compressor.models.clip_text import Template, prompt_names, resolve_templates


@dataclass
class PretrainResult:
    """What a pre-training run reached: zero-shot accuracy on a held-out split, steps, seconds."""

    val_accuracy: float
    steps: int
    seconds: float


def _captions(names: Sequence[str], templates: Sequence[Template], generator: torch.Generator) -> list[str]:
    """One caption per class, each with a template drawn at random."""
    picks = torch.randint(len(templates), (len(names),), generator=generator).tolist()
    out = []
    for name, pick in zip(names, picks, strict=True):
        template = templates[pick]
        out.append(template(name) if callable(template) else template.format(name))
    return out


def _normalise(x: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    return (x - mean) / std


def contrastive_loss(image: Tensor, text: Tensor, y: Tensor, scale: Tensor) -> Tensor:
    """Class-aware symmetric CLIP loss of unit image [B, D] and class-caption [C, D] embeddings."""
    logits = scale * image @ text.T
    image_to_text = F.cross_entropy(logits, y)
    same = F.one_hot(y, text.shape[0]).T.float()  # [C, B]
    present = same.sum(1) > 0
    targets = same[present] / same[present].sum(1, keepdim=True)
    text_to_image = -(targets * F.log_softmax(logits.T[present], dim=1)).sum(1).mean()
    return (image_to_text + text_to_image) / 2


@torch.no_grad()
def zero_shot_accuracy(
    clip: Any, tokenizer: Any, split: Split, names: Sequence[str], templates: Sequence[Template], cfg: Any
) -> float:
    """Accuracy of the template-averaged class-caption head on a split (what ZeroShotClassifier computes)."""
    from open_clip import build_zero_shot_classifier

    clip.eval()
    head = build_zero_shot_classifier(clip, tokenizer, list(names), templates, device="cpu").float()
    correct = 0
    for start in range(0, len(split), 256):
        x = _normalise(as_float(split.x[start : start + 256]), *cfg)
        image = F.normalize(clip.encode_image(x).float(), dim=-1)
        correct += int(((image @ head).argmax(1) == split.y[start : start + 256]).sum())
    return correct / max(1, len(split))


def pretrain_clip(
    clip: Any,
    tokenizer: Any,
    train: Split,
    val: Split,
    class_names: Sequence[str],
    templates: Sequence[Template],
    *,
    settings: ClipPretrain,
    seed: int,
    mean: Sequence[float],
    std: Sequence[float],
) -> PretrainResult:
    """Train both towers of `clip` in place (AdamW, cosine, 5% warm-up); return its zero-shot val accuracy.

    `settings` (a model's `pretrain:` section) give the epochs, learning rate and batch size.
    """
    epochs, batch_size = settings.epochs, settings.batch_size
    names = prompt_names(class_names)
    generator = torch.Generator().manual_seed(seed)
    cfg = (torch.tensor(mean).view(1, -1, 1, 1), torch.tensor(std).view(1, -1, 1, 1))
    params = [p for p in clip.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=float(settings.lr), weight_decay=0.05)
    steps_per_epoch = max(1, len(train) // batch_size)
    total = epochs * steps_per_epoch
    warmup = max(1, total // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: (
            (s + 1) / warmup
            if s < warmup
            else 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, total - warmup)))
        ),
    )
    started = time.perf_counter()
    clip.train()
    for _ in range(epochs):
        order = torch.randperm(len(train), generator=generator)
        for step in range(steps_per_epoch):
            index = order[step * batch_size : (step + 1) * batch_size]
            x = _normalise(as_float(train.x[index]), *cfg)
            tokens = tokenizer(_captions(names, templates, generator))
            image = F.normalize(clip.encode_image(x), dim=-1)
            text = F.normalize(clip.encode_text(tokens), dim=-1)
            loss = contrastive_loss(image, text, train.y[index], clip.logit_scale.exp().clamp(max=100))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    accuracy = zero_shot_accuracy(clip, tokenizer, val, names, templates, cfg)
    return PretrainResult(accuracy, total, time.perf_counter() - started)


def save_clip(clip: Any, path: Path) -> None:
    """The full open_clip state dict (both towers) as safetensors, written atomically."""
    from compressor_edge.files import atomic_write_bytes
    from safetensors.torch import save

    state = {k: v.detach().contiguous().cpu() for k, v in clip.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, save(state))


def pretrain_file(spec: ModelSpec, data: DataConfig, seed: int, root: Path) -> Path:
    """Where a run keeps the pre-trained weights of `spec`: named by everything they depend on."""
    digest = section_hash(spec.name, spec.templates, spec.pretrain, data, seed)
    return root / "pretrain" / f"{spec.name}-{digest[:10]}.safetensors"


def with_pretrain_checkpoints(recipe: Recipe, root: Path) -> Recipe:
    """The recipe with `checkpoint:` set on every model that pre-trains here and names no file itself."""

    def resolve(spec: ModelSpec) -> ModelSpec:
        if spec.pretrain is None or spec.checkpoint is not None:
            return spec
        path = pretrain_file(spec, recipe.data, recipe.run.seed, root)
        return spec.model_copy(update={"checkpoint": path})

    teachers = [t.model_copy(update={"model": resolve(t.model)}) for t in recipe.teachers]
    return recipe.model_copy(update={"teachers": teachers, "student": resolve(recipe.student)})


def ensure_pretrained(
    spec: ModelSpec,
    train: Split | None,
    val: Split,
    class_names: list[str],
    seed: int,
    log: Callable[[str], Any],
) -> None:
    """Pre-train `spec`'s CLIP (both towers) into ``spec.checkpoint`` unless that file is already there."""
    import open_clip

    import compressor.models.clip_configs  # noqa: F401  (registers the tiny offline architectures)

    if spec.pretrain is None or spec.checkpoint is None or spec.checkpoint.is_file():
        return
    if train is None:
        raise UserInputError("pretrain: needs an in-memory data set (not imagefolder)")
    p = spec.pretrain
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        clip = open_clip.create_model(spec.name, device="cpu")
    tokenizer = open_clip.get_tokenizer(spec.name)
    cfg = open_clip.get_model_preprocess_cfg(clip)
    log(f"[bold]pretrain[/] {spec.name}: contrastive, {p.epochs} epochs on class-name captions")
    result = pretrain_clip(
        clip,
        tokenizer,
        train,
        val,
        class_names,
        resolve_templates(spec.templates, class_names),
        settings=p,
        seed=seed,
        mean=spec.mean or cfg["mean"],
        std=spec.std or cfg["std"],
    )
    log(f"pretrain {spec.name}: zero-shot val accuracy {result.val_accuracy:.2%} ({result.seconds:.0f} s)")
    save_clip(clip, spec.checkpoint)
    spec.checkpoint.with_suffix(".json").write_text(json.dumps(asdict(result), indent=2))
