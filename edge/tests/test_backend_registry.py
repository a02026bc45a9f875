"""The backend registry: every backend module registers itself, and the kit's names, help, install hints,
int8 runtimes and format support derive from it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from compressor_edge import BackendUnavailable, VerifyOptions, verify_bundle
from compressor_edge.backends import BACKENDS, backend_spec, backend_specs, create_backend, registry
from compressor_edge.bundle import FORMATS
from compressor_edge.cli import main
from compressor_edge.convert import INT8_TARGETS


def test_every_backend_module_registers_itself() -> None:
    specs = backend_specs()
    built_in = {"onnxruntime-cpu", "onnxruntime-cuda", "openvino-cpu", "openvino-cpu-bf16", "tensorrt"}
    # a new backend module adds one more: the built-ins are there, every name once, sorted
    assert tuple(specs) == BACKENDS == tuple(sorted(specs)) and built_in <= set(specs)
    for name, spec in specs.items():
        assert spec.name == name and spec.packages and spec.install
        assert set(spec.formats) <= set(FORMATS) and spec.int8_target in INT8_TARGETS


def test_unknown_backend_lists_the_registered_ones() -> None:
    with pytest.raises(Exception, match="expected one of: " + ", ".join(BACKENDS)):
        backend_spec("tpu")
    with pytest.raises(Exception, match="did you mean 'openvino-cpu'"):
        backend_spec("openvino-cpy")


def test_missing_package_is_unavailable_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch, good_bundle: Path
) -> None:
    fake = replace(backend_spec("openvino-cpu"), packages=("no_such_package_for_this_test",))
    monkeypatch.setitem(registry._SPECS, "openvino-cpu", fake)
    with pytest.raises(BackendUnavailable, match="OpenVINO is not installed .*edge\\[openvino\\]"):
        create_backend("openvino-cpu", good_bundle / "model.onnx")


def test_a_format_a_backend_does_not_run_is_a_failed_row(
    monkeypatch: pytest.MonkeyPatch, good_bundle: Path
) -> None:
    fp32_only = replace(backend_spec("onnxruntime-cpu"), formats=("fp32",))
    monkeypatch.setitem(registry._SPECS, "onnxruntime-cpu", fp32_only)
    report = verify_bundle(
        good_bundle, formats=["fp32", "fp16"], options=VerifyOptions(latency_runs=2, batch_sizes=(1,))
    )
    rows = {r.format: r for r in report.results}
    assert rows["fp32"].error is None
    assert rows["fp16"].error == "onnxruntime-cpu does not run fp16 models (it runs fp32)"
    assert not report.passed


def test_int8_runtimes_come_from_the_registry(good_bundle: Path) -> None:
    from compressor_edge import load_bundle

    int8 = load_bundle(good_bundle).manifest["formats"]["int8"]
    by_target = {
        target: [n for n, s in backend_specs().items() if s.int8_target == target] for target in INT8_TARGETS
    }
    assert int8["runtimes"] == by_target["cpu"]
    assert int8["alternates"][0]["runtimes"] == by_target["tensorrt"] == ["tensorrt"]


def test_cli_help_lists_every_backend(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["verify", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for spec in backend_specs().values():
        assert f"{spec.name}: {spec.summary}" in out


@pytest.mark.parametrize(
    ("env", "asked", "expected"), [("1", None, 1), ("1", 2, 2), ("", None, 0), ("x", None, 0)]
)
def test_omp_num_threads_limits_the_cpu_runtime_unless_threads_are_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: str, asked: int | None, expected: int
) -> None:
    """onnxruntime keeps its own pool: a job limited with OMP_NUM_THREADS must not spread over every core."""
    import onnx
    from tiny_bundles import linear_onnx

    onnx.save(linear_onnx(), tmp_path / "m.onnx")
    monkeypatch.setenv("OMP_NUM_THREADS", env)
    with create_backend("onnxruntime-cpu", tmp_path / "m.onnx", threads=asked) as backend:
        assert backend._session.get_session_options().intra_op_num_threads == expected
