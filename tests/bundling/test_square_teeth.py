"""The export's Square check, at its default budget, still fails a file whose robustness was damaged.

The damaged file answers exactly like the robust model on every probe image (clean and PGD), so parity,
clean and adversarial-probe accuracy all pass: only the query attack around the probes can tell.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from bundling_helpers import make_cnn, with_options
from compressor_edge import VerifyOptions, load_bundle, sha256_file, verify_bundle
from torch import Tensor, nn

from compressor.bundling import export_bundle, export_onnx
from compressor.bundling.square_probe import fragile_robust_points
from compressor.config.schema import ExportConfig


class KnowsOnlyTheProbes(nn.Module):
    """The robust model's logits on the probe images, a naturally trained (non-robust) model's elsewhere."""

    def __init__(self, robust: nn.Module, weak: nn.Module, probes: Tensor) -> None:
        super().__init__()
        self.robust, self.weak = robust, weak
        self.register_buffer("probes", probes.flatten(1))

    def forward(self, x: Tensor) -> Tensor:
        distance = (x.flatten(1)[:, None, :] - self.probes[None]).abs().amax(-1).amin(1)
        return torch.where((distance < 1e-6)[:, None], self.robust(x), self.weak(x))


def _naturally_trained(digits) -> nn.Module:
    torch.manual_seed(1)
    x_train, y_train, _, _ = digits
    model = make_cnn()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(6):
        for start in range(0, len(x_train), 64):
            loss = nn.functional.cross_entropy(
                model(x_train[start : start + 64]), y_train[start : start + 64]
            )
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model.eval()


def test_default_square_budget_fails_a_file_that_lost_its_robustness(
    tmp_path: Path, trained_cnn, bundle_args: dict[str, Any], digits
) -> None:
    defaults = ExportConfig()
    args = with_options(
        bundle_args,
        formats=("fp32",),
        square_queries=defaults.square_queries,
        square_points=defaults.square_points,
    )
    bundle = export_bundle(trained_cnn, tmp_path / "bundle", **args)
    record = load_bundle(bundle).manifest["square"]
    probes = load_bundle(bundle).probes()
    assert record["indices"] == fragile_robust_points(probes, defaults.square_points).tolist()
    assert record["max_forwards"] == defaults.square_queries * len(record["indices"])
    assert verify_bundle(bundle, options=VerifyOptions(latency_runs=3, batch_sizes=(1,))).passed

    weak = _naturally_trained(digits)
    damaged = Path(shutil.copytree(bundle, tmp_path / "damaged"))
    known = torch.cat([torch.from_numpy(probes.clean_images), torch.from_numpy(probes.adversarial_images)])
    export_onnx(KnowsOnlyTheProbes(trained_cnn, weak, known).eval(), damaged / "model.onnx", known[:2])
    manifest = json.loads((damaged / "manifest.json").read_text())
    manifest["formats"]["fp32"]["sha256"] = sha256_file(damaged / "model.onnx")
    (damaged / "manifest.json").write_text(json.dumps(manifest))

    report = verify_bundle(damaged, options=VerifyOptions(latency_runs=3, batch_sizes=(1,)))
    row = report.results[0]
    print("\n" + report.to_markdown())
    assert not report.passed and row.failures, "Square must catch the lost robustness"
    assert all("Square acc drop vs PyTorch" in failure for failure in row.failures), row.failures
    assert row.clean_acc == report.pytorch_clean_acc and row.adv_probe_acc == report.pytorch_adv_acc
    assert row.square_seconds is not None and np.isfinite(row.square_seconds)
    assert "Square budget: at most" in report.to_markdown()
