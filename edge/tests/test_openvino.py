"""OpenVINO backend: every verify gate on the tiny bundle beside onnxruntime; skipped where openvino is missing."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from compressor_edge import BackendUnavailable, VerifyOptions, create_backend, load_bundle, verify_bundle
from compressor_edge.cli import main

HAVE_OPENVINO = importlib.util.find_spec("openvino") is not None
needs_openvino = pytest.mark.skipif(
    not HAVE_OPENVINO, reason="needs openvino: pip install './edge[openvino]'"
)


def test_missing_openvino_is_reported_as_unavailable(good_bundle: Path) -> None:
    if HAVE_OPENVINO:
        pytest.skip("openvino is installed here")
    with pytest.raises(BackendUnavailable, match=r"pip install './edge\[openvino\]'"):
        create_backend("openvino-cpu", good_bundle / "model.onnx")


@needs_openvino
def test_fp32_is_f32_on_openvino(good_bundle: Path) -> None:
    bundle = load_bundle(good_bundle)
    probes = bundle.probes()
    with create_backend("openvino-cpu", bundle.model_path("fp32"), threads=1) as backend:
        assert "f32 precision" in backend.describe()
        logits = backend.predict(probes.adversarial_images, batch_size=16)
    assert np.abs(logits - probes.adversarial_logits).max() < 1e-4


@needs_openvino
def test_every_row_passes_on_onnxruntime_and_openvino(good_bundle: Path) -> None:
    report = verify_bundle(
        good_bundle,
        backends=("onnxruntime-cpu", "openvino-cpu"),
        options=VerifyOptions(square_queries=100, latency_runs=5, batch_sizes=(1, 8)),
    )
    assert report.passed, report.to_markdown()
    rows = {(r.format, r.backend): r for r in report.results}
    assert len(rows) == 6 and rows[("int8", "openvino-cpu")].file == "model.int8.onnx"
    assert rows[("fp32", "openvino-cpu")].max_abs_logit_diff < 1e-4


@needs_openvino
def test_cli_verify_on_both_backends(good_bundle: Path, capsys) -> None:
    code = main(
        [
            "verify",
            str(good_bundle),
            "--backends",
            "onnxruntime-cpu,openvino-cpu",
            "--formats",
            "fp32,int8",
            "--square-queries",
            "20",
            "--latency-runs",
            "3",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.count("| openvino-cpu |") == 2 and "Verdict: PASS" in out


@needs_openvino
def test_static_batches_unpinned_match_the_dynamic_model(good_bundle: Path) -> None:
    bundle = load_bundle(good_bundle)
    images = bundle.probes().clean_images[:8]
    path = bundle.model_path("int8", "openvino-cpu")
    with create_backend("openvino-cpu", path, threads=1, batch_sizes=(1, 8)) as backend:
        assert "unpinned, static batch 1/8" in backend.describe()
        assert all(not c.get_property("ENABLE_CPU_PINNING") for c in backend._compiled.values())
        static = np.concatenate([backend.run(images[:1]), backend.run(images)])
        dynamic = backend.predict(images, batch_size=3)  # 3, 3, 2: no static model for these
    with create_backend("openvino-cpu", path, threads=1, batch_sizes=()) as plain:
        assert "static batch" not in plain.describe()
    np.testing.assert_allclose(static[1:], dynamic, atol=1e-5)
    np.testing.assert_allclose(static[:1], dynamic[:1], atol=1e-5)


def _cpu_has_bf16() -> bool:
    import openvino as ov

    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


@needs_openvino
def test_the_bf16_backend_runs_the_fp32_file_in_bf16_under_the_bf16_gates(good_bundle: Path) -> None:
    from compressor_edge import VerifyOptions, VerifyTolerances

    if not _cpu_has_bf16():
        pytest.skip("this CPU has no bf16 support in OpenVINO (AMX or AVX512-BF16 needed)")
    options = VerifyOptions(square_queries=50, latency_runs=3, batch_sizes=(1,))
    backends = ("openvino-cpu", "openvino-cpu-bf16")
    report = verify_bundle(good_bundle, backends=backends, options=options)  # every format the bundle has
    assert report.passed, report.to_markdown()
    assert {r.format for r in report.results if r.backend == "openvino-cpu-bf16"} == {"fp32"}  # what it runs
    rows = {r.backend: r for r in report.results if r.format == "fp32"}
    assert "bf16 precision" in rows["openvino-cpu-bf16"].device
    # it really computes in bf16: far from fp32 parity, which the f32 row keeps
    assert rows["openvino-cpu-bf16"].max_abs_logit_diff > 100 * rows["openvino-cpu"].max_abs_logit_diff
    strict = VerifyTolerances.from_dict({"bf16": {"max_rel_logit_diff": 1e-7}})  # only the bf16 row's gate
    judged = verify_bundle(good_bundle, strict, formats=("fp32",), backends=backends, options=options)
    failed = {r.backend for r in judged.results if r.failures}
    assert failed == {"openvino-cpu-bf16"}, judged.to_markdown()


def test_a_cpu_without_bf16_makes_the_bf16_backend_unavailable(good_bundle: Path, monkeypatch) -> None:
    if not HAVE_OPENVINO:
        pytest.skip("needs openvino: pip install './edge[openvino]'")
    import openvino as ov

    real = ov.Core.get_property

    def no_bf16(self, device, name):
        value = real(self, device, name)
        return [c for c in value if c != "BF16"] if name == "OPTIMIZATION_CAPABILITIES" else value

    monkeypatch.setattr(ov.Core, "get_property", no_bf16)
    with pytest.raises(BackendUnavailable, match="this CPU has no bf16 support"):
        create_backend("openvino-cpu-bf16", good_bundle / "model.onnx")
