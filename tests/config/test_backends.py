"""The recipe's backend names are checked against the edge kit's registry, so a backend is added in one place."""

from __future__ import annotations

import pytest
from compressor_edge.backends import BACKENDS, backend_spec

from compressor.errors import UserInputError
from compressor.recipe_checks import _backend_problem, _check_backends


def test_recipe_backends_are_the_edge_kits_registry() -> None:
    _check_backends(list(BACKENDS), "r.yaml")
    with pytest.raises(
        UserInputError,
        match=r"r.yaml: verify.backends.1: unknown backend 'openvino-gpu' \(expected one of: .*\); did you mean 'openvino-cpu'",
    ):
        _check_backends(["onnxruntime-cpu", "openvino-gpu"], "r.yaml")


def test_validate_warns_with_the_registrys_install_hint(monkeypatch) -> None:
    spec = backend_spec("openvino-cpu")
    monkeypatch.setattr(type(spec), "missing_packages", lambda self: ["openvino"])
    problem = _backend_problem("openvino-cpu")
    assert problem is not None and "OpenVINO is not installed" in problem and spec.install in problem
