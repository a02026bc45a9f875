"""Attacks under bf16 autocast keep float32 gradients; Square needs nothing but a scoring callable."""

from __future__ import annotations

import numpy as np
import torch

from compressor.attacks import get_attack
from compressor.attacks.base import predict


def test_attacks_under_bf16_autocast(digits, fast):
    model, x, y = digits
    clean = int((predict(model, x) == y).sum())
    for name in ["pgd20", "apgd-ce", "apgd-t", "fab-t"]:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            res = get_attack(name)(model, x, y, eps=0.1, **fast.get(name, {}))
        assert res.x_adv.dtype == torch.float32
        assert float((res.x_adv - x).abs().max()) <= 0.1 + 1e-6
        assert int(res.robust.sum()) < clean - 5


def test_square_attacks_a_numpy_runtime(digits, fast):
    model, x, y = digits

    def runtime(batch):  # stands in for an exported model: numpy in, numpy out
        with torch.no_grad():
            return model(torch.from_numpy(np.asarray(batch.cpu().numpy()))).numpy()

    via_runtime = get_attack("square")(runtime, x, y, eps=0.1, **fast["square"])
    via_torch = get_attack("square")(model, x, y, eps=0.1, **fast["square"])
    assert torch.equal(via_runtime.robust, via_torch.robust)
    assert torch.allclose(via_runtime.x_adv, via_torch.x_adv)
    assert int(via_runtime.robust.sum()) < int((predict(model, x) == y).sum())
