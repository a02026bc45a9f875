"""compressor: distil small adversarially robust students and ship them to edge devices.

The Python API (`distill`, `evaluate`, `export`; see compressor/api.py) loads on first use, so
`import compressor` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from compressor._version import __version__ as __version__

__all__ = ["DistillRun", "distill", "evaluate", "export"]

if TYPE_CHECKING:
    from compressor.api import DistillRun, distill, evaluate, export


def __getattr__(name: str) -> Any:
    if name in __all__:
        from compressor import api

        return getattr(api, name)
    raise AttributeError(f"module 'compressor' has no attribute {name!r}")
