"""Turn every failure into one line on stderr and the documented exit code."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from compressor.errors import EXIT_BAD_INPUT, EXIT_RUNTIME, CompressorError

F = TypeVar("F", bound=Callable[..., Any])


# Optional parts and how to get them (anything else missing: the package of that name).
_INSTALL = {
    "tensorrt": "pip install 'compressor[tensorrt]'",
    "openvino": "pip install 'compressor[openvino]'",
    "wandb": "pip install 'compressor[wandb]'",
    "mlflow": "pip install 'compressor[mlflow]'",
    "compressor_edge": "pip install compressor (it carries the edge kit) or pip install ./edge",
}


def _exit_code(err: Exception) -> int | None:
    """The exit code of an error we know how to explain in one line, else None."""
    if isinstance(err, ModuleNotFoundError):  # an optional part, or a dependency, is missing
        return EXIT_BAD_INPUT
    if isinstance(err, CompressorError):
        return err.exit_code
    try:
        from compressor_edge.errors import BundleError  # torch-free, cheap
    except ModuleNotFoundError:
        return None
    return EXIT_BAD_INPUT if isinstance(err, BundleError) else None


MAX_LINE = 1000  # an error line quoting a hostile input stays readable


def _message(err: Exception) -> str:
    """One line for a known error; a missing module says how to install it."""
    if isinstance(err, ModuleNotFoundError) and err.name:
        top = err.name.split(".")[0]
        how = _INSTALL.get(top, f"pip install {top}")
        return f"the package '{top}' that this needs is not installed; {how}"
    text = " ".join(str(err).split("\n"))
    return text if len(text) <= MAX_LINE else f"{text[: MAX_LINE // 2]} ... {text[-MAX_LINE // 2 :]}"


def one_line_errors(func: F) -> F:
    """Run a command; known errors print one line, unknown ones too (traceback with COMPRESSOR_DEBUG=1)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except typer.Exit:  # typer.Exit(code): the command's own exit code, not an error
            raise
        except KeyboardInterrupt:
            print(
                "interrupted: completed stages and the last checkpoint are kept; rerun with --resume",
                file=sys.stderr,
            )
            raise SystemExit(130) from None
        except Exception as err:  # the last line of defence: never a traceback for users
            code = _exit_code(err)
            if code is not None:
                print(f"error: {_message(err)}", file=sys.stderr)
                raise SystemExit(code) from None
            if os.environ.get("COMPRESSOR_DEBUG"):
                raise
            first = str(err).strip().splitlines()[0][:MAX_LINE] if str(err).strip() else ""
            print(
                f"error: {type(err).__name__}: {first} (set COMPRESSOR_DEBUG=1 for the traceback)",
                file=sys.stderr,
            )
            raise SystemExit(EXIT_RUNTIME) from None

    return wrapper  # type: ignore[return-value]
