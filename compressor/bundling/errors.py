"""Export errors: a broken export is a runtime failure (exit 3); bad arguments are user input (exit 2)."""

from __future__ import annotations

from compressor.errors import CompressorError


class ExportFailed(CompressorError):
    """The exporter wrote a file that onnx's checker rejects or whose outputs disagree with PyTorch."""
