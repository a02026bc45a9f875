"""LoRA students (only adapters train, base and BatchNorm statistics frozen) and ONNX export parity."""

from __future__ import annotations

import warnings

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

from compressor.config.schema import LoRAConfig
from compressor.errors import UserInputError


def _steps(model, x, y, n: int = 3) -> None:
    """A few AdamW steps of cross-entropy on the trainable parameters."""
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(n):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()


@pytest.mark.parametrize("name", ["compressor-tiny-vit", "compressor-tiny-rn"])
def test_lora_trains_only_adapters(make_clip, images, lora, name):
    plain = make_clip(name, seed=0).eval()
    model = make_clip(name, seed=0, lora=lora)
    x, y = images
    with torch.no_grad():  # adapters start at zero, and the attention rewrite is exact
        assert torch.allclose(model.eval()(x), plain(x), atol=1e-5)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    base = {k: v.clone() for k, v in model.state_dict().items() if "lora_" not in k}
    _steps(model, x, y)
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in base.items())  # weights, BN statistics, text head
    with torch.no_grad():
        assert not torch.allclose(model.eval()(x), plain(x), atol=1e-4)


def test_lora_on_the_attention_pool_is_refused(make_clip):
    with pytest.raises(UserInputError, match="attnpool"):
        make_clip("compressor-tiny-rn", lora=LoRAConfig(rank=2, target_modules=["q_proj"]))


def test_onnx_export_of_a_lora_student_keeps_logits(make_clip, images, lora, tmp_path):
    model = make_clip(lora=lora)
    x, y = images
    _steps(model, x, y, n=1)
    model.eval()
    path = tmp_path / "clip.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (x[:2],),
            str(path),
            input_names=["pixels"],
            output_names=["logits"],
            dynamo=True,
            dynamic_shapes=({0: torch.export.Dim("batch")},),
        )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    onnx_logits = session.run(None, {"pixels": x.numpy()})[0]
    with torch.no_grad():
        torch_logits = model(x).numpy()
    assert np.abs(onnx_logits - torch_logits).max() < 1e-3
    assert (onnx_logits.argmax(1) == torch_logits.argmax(1)).all()
