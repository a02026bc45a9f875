"""The recipe schema's backend names are the edge kit's registry, so a backend is added in one place."""

from __future__ import annotations

from typing import get_args

from compressor_edge.backends import BACKENDS, backend_spec

from compressor.config.checks import _backend_problem
from compressor.config.schema import Backend


def test_schema_backends_equal_the_edge_kits_registry() -> None:
    assert get_args(Backend) == BACKENDS


def test_validate_warns_with_the_registrys_install_hint(monkeypatch) -> None:
    spec = backend_spec("openvino-cpu")
    monkeypatch.setattr(type(spec), "missing_packages", lambda self: ["openvino"])
    problem = _backend_problem("openvino-cpu")
    assert problem is not None and "OpenVINO is not installed" in problem and spec.install in problem
