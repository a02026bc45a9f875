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
from bundling_helpers import with_options
from compressor_edge import VerifyOptions, load_bundle, sha256_file, verify_bundle
from torch import Tensor, nn

from compressor.bundling import export_bundle, export_onnx
from compressor.bundling.square_probe import fragile_robust_points
from compressor.config.schema import ExportConfig


class ShrunkRobustness(nn.Module):
    """The robust model with its robustness radius shrunk `factor` times around the probe images: a query is
    answered as the robust model answers the nearest probe plus `factor` times the query's offset from it.

    On the probes themselves (clean and PGD) it gives exactly the robust model's logits. (A naturally trained
    model in its place was not damage enough: on 8x8 digits at eps 0.1 it is itself fairly robust, and on
    one CPU's weights it kept every point the robust model kept.)
    """

    def __init__(self, robust: nn.Module, probes: Tensor, factor: float = 2.0) -> None:
        super().__init__()
        self.robust, self.factor = robust, factor
        self.register_buffer("probes", probes.flatten(1))

    def forward(self, x: Tensor) -> Tensor:
        flat = x.flatten(1)
        nearest = self.probes[(flat[:, None, :] - self.probes[None]).abs().amax(-1).argmin(1)]
        return self.robust((nearest + self.factor * (flat - nearest)).clamp(0, 1).view_as(x))


def test_default_square_budget_fails_a_file_that_lost_its_robustness(
    tmp_path: Path, trained_cnn, bundle_args: dict[str, Any]
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

    damaged = Path(shutil.copytree(bundle, tmp_path / "damaged"))
    known = torch.cat([torch.from_numpy(probes.clean_images), torch.from_numpy(probes.adversarial_images)])
    export_onnx(ShrunkRobustness(trained_cnn, known).eval(), damaged / "model.onnx", known[:2])
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
