"""compressor-edge: load, run, benchmark and re-verify an exported compressor bundle, without torch."""

from __future__ import annotations

from compressor_edge._version import __version__
from compressor_edge.backends import BACKENDS, Backend, create_backend
from compressor_edge.bundle import FORMAT_FILES, FORMATS, Bundle, Probes, load_bundle, sha256_file
from compressor_edge.errors import BackendUnavailable, BundleError
from compressor_edge.square import SquareResult, square_attack_linf
from compressor_edge.tolerances import FormatTolerances, VerifyTolerances
from compressor_edge.verify import VerifyOptions, verify_bundle
from compressor_edge.verify_report import FormatResult, VerifyReport

__all__ = [
    "BACKENDS",
    "FORMATS",
    "FORMAT_FILES",
    "Backend",
    "BackendUnavailable",
    "Bundle",
    "BundleError",
    "FormatResult",
    "FormatTolerances",
    "Probes",
    "SquareResult",
    "VerifyOptions",
    "VerifyReport",
    "VerifyTolerances",
    "__version__",
    "create_backend",
    "load_bundle",
    "sha256_file",
    "square_attack_linf",
    "verify_bundle",
]
