"""open_clip models as zero-shot classifiers: [0,1] pixels in, 100 * cosine to a fixed text head out.

The class names x prompt templates are encoded once by the model's own text encoder into a normalised
``text_matrix`` (a buffer: it is saved, exported and never trained). The text tower then leaves the module
tree: it is kept frozen on the CPU, outside ``parameters()``, only to build heads for other class lists
(``with_classes``). So attacks, trainers and exporters see "just a classifier".
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from compressor.config.schema import ModelSpec
from compressor.errors import UserInputError
from compressor.models.clip_text import Template, prompt_names, resolve_templates

Output = Literal["logits", "embedding", "raw_embedding"]
LOGIT_SCALE = 100.0


class TextTower:
    """The frozen text encoder and tokenizer of an open_clip model (not an nn.Module on purpose)."""

    def __init__(self, clip: nn.Module, tokenizer: Any) -> None:
        clip.visual = nn.Identity()
        self.clip = clip.cpu().eval().requires_grad_(False)
        self.tokenizer = tokenizer

    def __deepcopy__(self, memo: dict[int, Any]) -> TextTower:
        return self  # frozen: copies of a classifier share it

    @torch.no_grad()
    def encode(
        self, class_names: Sequence[str], templates: Sequence[Template], device: torch.device
    ) -> Tensor:
        """[C, D] normalised class embeddings, each the mean over templates of normalised prompts."""
        from open_clip import build_zero_shot_classifier

        self.clip.to(device)
        try:
            weights = build_zero_shot_classifier(
                self.clip,
                self.tokenizer,
                prompt_names(class_names),
                templates,
                num_classes_per_batch=50,
                device=device,
            )
        finally:
            self.clip.cpu()
        return weights.T.float().contiguous()


class ZeroShotClassifier(nn.Module):
    """An open_clip image tower with a fixed text head; normalisation (mean/std buffers) inside."""

    text_matrix: Tensor
    mean: Tensor
    std: Tensor

    def __init__(
        self,
        visual: nn.Module,
        text_matrix: Tensor,
        class_names: Sequence[str],
        mean: Sequence[float],
        std: Sequence[float],
        *,
        text: TextTower | None = None,
        templates: str = "default",
    ) -> None:
        super().__init__()
        if text_matrix.shape[0] != len(class_names):
            raise ValueError(f"text matrix has {text_matrix.shape[0]} rows for {len(class_names)} classes")
        self.visual = visual
        self.register_buffer("text_matrix", F.normalize(text_matrix.float(), dim=-1))
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1))
        self.class_names = list(class_names)
        self.logit_scale = LOGIT_SCALE
        self.templates = templates
        self.text = text
        size = getattr(visual, "image_size", None)
        self.image_size: int | None = size[0] if isinstance(size, tuple | list) else size

    @property
    def num_classes(self) -> int:
        """Number of classes of the head."""
        return len(self.class_names)

    def raw_embed(self, x: Tensor) -> Tensor:
        """Unnormalised image embedding of [0,1] pixels (what FARE matches); grey input is repeated into RGB."""
        if x.shape[1] == 1:
            x = x.expand(-1, self.mean.shape[1], -1, -1)
        return self.visual((x - self.mean.to(x.dtype)) / self.std.to(x.dtype))

    def embed(self, x: Tensor) -> Tensor:
        """Unit-norm image embedding of [0,1] pixels."""
        return F.normalize(self.raw_embed(x), dim=-1)

    def forward(self, x: Tensor, output: Output = "logits") -> Tensor:
        """Logits (100 * cosine to each class), or an embedding when asked (works through DDP too)."""
        if output == "raw_embedding":
            return self.raw_embed(x)
        if output == "embedding":
            return self.embed(x)
        return self.logit_scale * self.embed(x) @ self.text_matrix.to(x.dtype).T

    def with_classes(self, class_names: Sequence[str], templates: str | None = None) -> ZeroShotClassifier:
        """A classifier for other classes that shares this image tower (same weights, same object)."""
        if self.text is None:
            raise UserInputError("this CLIP classifier has no text tower to encode new class names")
        spec = templates or self.templates
        matrix = self.text.encode(class_names, resolve_templates(spec, class_names), self.text_matrix.device)
        mean, std = self.mean.flatten().tolist(), self.std.flatten().tolist()
        head = ZeroShotClassifier(self.visual, matrix, class_names, mean, std, text=self.text, templates=spec)
        return head.to(self.text_matrix.device).train(self.training)

    def train(self, mode: bool = True) -> ZeroShotClassifier:
        """Train mode, except that BatchNorm layers with frozen weights (LoRA) keep their statistics."""
        super().train(mode)
        for m in self.visual.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.weight is not None:
                m.train(mode and m.weight.requires_grad)
        return self


def build_clip_classifier(
    spec: ModelSpec, class_names: list[str], device: torch.device | str | None = None
) -> ZeroShotClassifier:
    """The zero-shot classifier a `source: open_clip` spec names (tag, hf-hub:, local-dir:, checkpoint, LoRA)."""
    import open_clip

    from compressor.models import weights as ckpt
    from compressor.models.clip_tiny import register_tiny_clips

    register_tiny_clips()

    if not class_names:
        raise UserInputError(f"CLIP model '{spec.name}' needs at least one class name")
    clip, tokenizer = _create(spec)
    state = (
        ckpt.load_state_dict_file(spec.checkpoint, trust_pickle=spec.trust_pickle) if spec.checkpoint else {}
    )
    if state and "text_matrix" not in state:
        _load_foreign(clip, state, spec)
    cfg = open_clip.get_model_preprocess_cfg(clip)
    mean, std = spec.mean or cfg["mean"], spec.std or cfg["std"]
    visual: nn.Module = clip.visual
    text = TextTower(clip, tokenizer)
    target = torch.device(device) if device is not None else torch.device("cpu")
    matrix = text.encode(class_names, resolve_templates(spec.templates, class_names), target)
    model = ZeroShotClassifier(visual, matrix, class_names, mean, std, text=text, templates=spec.templates)
    if spec.lora is not None:
        from compressor.models.clip_lora import add_lora

        add_lora(model.visual, spec.lora)
    if "text_matrix" in state:
        ckpt.load_into(model, state, source=spec.checkpoint)
    return model.to(target)


def _create(spec: ModelSpec) -> tuple[Any, Any]:
    """The open_clip model and tokenizer, with download failures turned into one line."""
    import open_clip

    from compressor.models import hub

    tag = hub.pretrained_tag(spec)
    problem = hub.offline_problem(spec)  # open_clip would go on with random weights when they are missing
    if problem:
        raise UserInputError(problem)
    quiet = _RandomInitNotice() if spec.checkpoint is not None else None  # the weights come from the file
    root = logging.getLogger()
    if quiet:
        root.addFilter(quiet)
    try:
        clip = open_clip.create_model(spec.name, pretrained=tag, device="cpu")
        tokenizer = open_clip.get_tokenizer(spec.name)
    except Exception as exc:  # download errors come in many types
        if tag is not None or spec.name.startswith("hf-hub:"):
            raise UserInputError(hub.load_error(spec, exc)) from None
        detail = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise UserInputError(
            f"could not create open_clip model '{spec.name}': {detail}; check the model name and its config"
        ) from None
    finally:
        if quiet:
            root.removeFilter(quiet)
    return clip, tokenizer


class _RandomInitNotice(logging.Filter):
    """Drops open_clip's "initialized randomly" warning when a checkpoint is loaded right after."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Model initialized randomly" not in record.getMessage()


def _load_foreign(clip: Any, state: dict[str, Tensor], spec: ModelSpec) -> None:
    """Load a full open_clip state dict, or an image-tower-only one (TeCoA / FARE releases)."""
    from compressor.models import weights as ckpt

    if any(k.startswith("visual.") for k in state) and any(not k.startswith("visual.") for k in state):
        ckpt.load_into(clip, state, source=spec.checkpoint)
        return
    visual = {k.removeprefix("visual."): v for k, v in state.items()}
    ckpt.load_into(clip.visual, visual, source=spec.checkpoint)
