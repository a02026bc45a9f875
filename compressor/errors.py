"""Errors the CLI turns into one line and an exit code (never a traceback)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_RUNTIME = 3


class CompressorError(Exception):
    """Base class: `str(err)` is the one line shown to the user."""

    exit_code = EXIT_RUNTIME


class UserInputError(CompressorError):
    """Bad recipe, path, checkpoint or ONNX file: say what, where, and what to do."""

    exit_code = EXIT_BAD_INPUT


class GateFailed(CompressorError):
    """A verification gate or sanity check failed; artifacts were still written."""

    exit_code = EXIT_GATE_FAILED


class TrainingDiverged(CompressorError):
    """A non-finite loss stopped training; the last good checkpoint is kept."""

    exit_code = EXIT_RUNTIME
