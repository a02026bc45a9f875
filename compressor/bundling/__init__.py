"""Export a student to the edge bundle (ONNX fp32 / fp16 / int8, manifest, probes), checked against PyTorch."""

from compressor.bundling.bundle import export_bundle
from compressor.bundling.errors import ExportFailed
from compressor.bundling.onnx_export import EXPORTERS, export_onnx
from compressor.bundling.options import ExportImages, ExportOptions
from compressor.bundling.parity import EXPORT_BOUNDS, check_parity

__all__ = [
    "EXPORTERS",
    "EXPORT_BOUNDS",
    "ExportFailed",
    "ExportImages",
    "ExportOptions",
    "check_parity",
    "export_bundle",
    "export_onnx",
]
