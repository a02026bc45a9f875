"""The numeric check after every export: run the ONNX file in onnxruntime and compare with PyTorch's logits.

The exporters have produced graphs that pass onnx's checker yet compute something else, so every file in a
bundle is run on real images (clean and adversarial probes, at the full batch and at batch 1) before the
bundle is written. Bound: max |onnx - torch| <= atol + rtol * max |torch|.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from compressor_edge.backends import create_backend

from compressor.bundling.errors import ExportFailed


@dataclass(frozen=True)
class ParityBound:
    """Allowed deviation of one format from PyTorch (None: only finiteness and shape are checked)."""

    atol: float | None
    rtol: float = 0.0


# fp32 must match to float rounding; fp16 gets fp16 rounding; int8 is gated by verify's accuracy checks.
EXPORT_BOUNDS = {"fp32": ParityBound(1e-4, 1e-4), "fp16": ParityBound(0.05, 0.05), "int8": ParityBound(None)}


def check_parity(onnx_path: Path, images: np.ndarray, reference: np.ndarray, bound: ParityBound) -> float:
    """Max |logit difference| between onnxruntime and `reference`; ExportFailed (one line) when out of bound."""
    with create_backend("onnxruntime-cpu", onnx_path) as backend:
        batched = backend.predict(images, batch_size=images.shape[0])
        single = backend.predict(images[:1], batch_size=1)
    name = onnx_path.name
    if batched.shape != reference.shape:
        raise ExportFailed(f"{name}: ONNX output shape {batched.shape}, PyTorch {reference.shape}")
    if not (np.isfinite(batched).all() and np.isfinite(single).all()):
        raise ExportFailed(f"{name}: ONNX output has NaN or inf on the probe images")
    error = float(max(np.abs(batched - reference).max(), np.abs(single - reference[:1]).max()))
    if bound.atol is not None:
        allowed = bound.atol + bound.rtol * float(np.abs(reference).max())
        if error > allowed:
            raise ExportFailed(
                f"{name}: ONNX logits differ from PyTorch by {error:.3g} (allowed {allowed:.3g}) on "
                f"{len(images)} probe images; the exporter produced a wrong graph (try another exporter or opset)"
            )
    return error
