"""The recipe schema's backend names are the edge kit's registry, so a backend is added in one place."""

from __future__ import annotations

import pytest
from compressor_edge.backends import BACKENDS, backend_spec
from pydantic import TypeAdapter, ValidationError

from compressor.config.schema import Backend
from compressor.recipe_checks import _backend_problem


def test_schema_backends_are_the_edge_kits_registry() -> None:
    adapter = TypeAdapter(Backend)
    assert [adapter.validate_python(name) for name in BACKENDS] == list(BACKENDS)
    with pytest.raises(ValidationError, match="unknown backend 'openvino-gpu'; did you mean 'openvino-cpu'"):
        adapter.validate_python("openvino-gpu")


def test_validate_warns_with_the_registrys_install_hint(monkeypatch) -> None:
    spec = backend_spec("openvino-cpu")
    monkeypatch.setattr(type(spec), "missing_packages", lambda self: ["openvino"])
    problem = _backend_problem("openvino-cpu")
    assert problem is not None and "OpenVINO is not installed" in problem and spec.install in problem
