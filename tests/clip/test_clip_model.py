"""The CLIP zero-shot classifier: logits, normalisation, frozen text head, checkpoints, offline errors."""

from __future__ import annotations

import huggingface_hub.constants
import open_clip
import pytest
import torch
import torch.nn.functional as F
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

from compressor.config.schema import ModelSpec
from compressor.errors import UserInputError
from compressor.models.clip import build_clip_classifier
from compressor.models.clip_text import CIFAR_TEMPLATES
from compressor.models.weights import save_state_dict_file

CLASSES = ["cat", "dog", "car"]


def _independent_text_head(model, name: str, templates) -> torch.Tensor:
    """Class embeddings straight from open_clip: mean of normalised prompt embeddings, renormalised."""
    tokenizer = open_clip.get_tokenizer(name)
    rows = []
    with torch.no_grad():
        for c in CLASSES:
            emb = F.normalize(
                model.text.clip.encode_text(tokenizer([t.format(c) for t in templates])), dim=-1
            )
            rows.append(F.normalize(emb.mean(0), dim=-1))
    return torch.stack(rows)


@pytest.mark.parametrize("name", ["compressor-tiny-vit", "compressor-tiny-rn"])
def test_logits_are_100_times_cosine_to_the_text_matrix(make_clip, images, name):
    model = make_clip(name, templates="cifar").eval()
    x, _ = images
    text = _independent_text_head(model, name, CIFAR_TEMPLATES)
    assert torch.allclose(model.text_matrix, text, atol=1e-6)
    mean = torch.tensor(OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(OPENAI_DATASET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        image = F.normalize(model.visual((x - mean) / std), dim=-1)
        assert torch.allclose(model(x), 100 * image @ text.T, atol=1e-4)
        assert torch.allclose(model.embed(x), image, atol=1e-6)
        assert torch.allclose(model(x, output="raw_embedding"), model.visual((x - mean) / std))
    assert model.image_size == 32 and model.num_classes == 3 and model.class_names == CLASSES


def test_normalisation_lives_inside_as_buffers(make_clip, images):
    model = make_clip()
    assert torch.allclose(model.mean.flatten(), torch.tensor(OPENAI_DATASET_MEAN))
    assert torch.allclose(model.std.flatten(), torch.tensor(OPENAI_DATASET_STD))
    custom = make_clip(mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25]).eval()
    x, _ = images
    with torch.no_grad():
        assert torch.allclose(custom.raw_embed(x), custom.visual((x - 0.5) / 0.25), atol=1e-6)


def test_text_head_is_a_frozen_buffer_outside_the_parameters(make_clip):
    model = make_clip()
    names = {n for n, _ in model.named_parameters()}
    assert names and all(n.startswith("visual.") for n in names)
    assert set(model.state_dict()) - {f"visual.{k}" for k in model.visual.state_dict()} == {
        "text_matrix",
        "mean",
        "std",
    }
    assert not any(p.requires_grad for p in model.text.clip.parameters())
    assert torch.allclose(model.text_matrix.norm(dim=1), torch.ones(3))


def test_with_classes_shares_the_image_tower(make_clip, images):
    model = make_clip()
    head = model.with_classes(["red", "green", "blue", "yellow"])
    assert head.visual is model.visual and head.text_matrix.shape == (4, 32)
    x, _ = images
    with torch.no_grad():
        assert torch.allclose(head.embed(x), model.embed(x))
    assert head.with_classes(CLASSES).text_matrix.equal(model.text_matrix)


@pytest.mark.parametrize("kind", ["ours", "visual-only", "full-open-clip"])
def test_checkpoints_load(make_clip, images, tmp_path, kind):
    source = make_clip(seed=0).eval()
    state = {
        "ours": source.state_dict(),
        "visual-only": source.visual.state_dict(),
        "full-open-clip": {
            **{f"visual.{k}": v for k, v in source.visual.state_dict().items()},
            **source.text.clip.state_dict(),
        },
    }[kind]
    save_state_dict_file(tmp_path / "model.safetensors", state)
    loaded = make_clip(seed=1, checkpoint=tmp_path / "model.safetensors").eval()
    x, _ = images
    with torch.no_grad():
        assert torch.allclose(loaded.embed(x), source.embed(x), atol=1e-6)
    same_text = loaded.text_matrix.equal(source.text_matrix)
    assert same_text == (kind != "visual-only")  # a visual-only file keeps the model's own text tower


def test_wrong_checkpoint_is_a_user_error(make_clip, tmp_path):
    save_state_dict_file(tmp_path / "bad.safetensors", {"conv1.weight": torch.zeros(1)})
    with pytest.raises(UserInputError, match="does not fit"):
        make_clip(checkpoint=tmp_path / "bad.safetensors")


@pytest.mark.parametrize(
    ("name", "pretrained", "match"),
    [
        ("RN50", "openai", "offline"),
        ("hf-hub:timm/ViT-B-32-quickgelu", False, "offline"),
        ("ViT-B-32", "no-such-tag", "unknown pretrained tag"),
        ("compressor-tiny-vit", True, "no pretrained weights"),
    ],
)
def test_unavailable_weights_give_one_line_user_errors(monkeypatch, name, pretrained, match):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # fail fast, no retries
    spec = ModelSpec(source="open_clip", name=name, pretrained=pretrained)
    with pytest.raises(UserInputError, match=match) as err:
        build_clip_classifier(spec, CLASSES)
    assert "\n" not in str(err.value) and err.value.__cause__ is None
