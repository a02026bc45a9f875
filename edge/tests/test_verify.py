"""verify_bundle: good bundles pass, broken exports and tightened gates fail, with reasons."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from tiny_bundles import make_bundle

from compressor_edge import (
    BackendUnavailable,
    BundleError,
    VerifyOptions,
    VerifyTolerances,
    load_bundle,
    sha256_file,
    verify_bundle,
)
from compressor_edge.backends.registry import env_threads
from compressor_edge.bundle import MANIFEST_FILE
from compressor_edge.latency import Latency
from compressor_edge.verify_report import FormatResult, VerifyReport

FAST = VerifyOptions(square_queries=100, latency_runs=5, batch_sizes=(1, 8))


@pytest.fixture(scope="module")
def good_report(good_bundle: Path):
    return verify_bundle(good_bundle, options=FAST)


def test_good_bundle_passes_every_format(good_report) -> None:
    assert good_report.passed, good_report.to_markdown()
    assert [r.format for r in good_report.results] == ["fp32", "fp16", "int8"]
    fp32, fp16, int8 = good_report.results
    assert fp32.max_abs_logit_diff < 1e-4 and fp32.top1_agreement == 1.0
    assert fp32.max_abs_logit_diff < fp16.max_abs_logit_diff < int8.max_abs_logit_diff
    assert fp32.clean_acc == good_report.pytorch_clean_acc == 1.0
    assert fp32.adv_probe_acc == good_report.pytorch_adv_acc == 0.5
    for r in good_report.results:
        assert r.square_acc is not None and 0.0 <= r.square_acc <= r.clean_acc
        assert set(r.latency) == {1, 8} and all(t.median_ms > 0 for t in r.latency.values())
        assert r.size_bytes > 0 and r.device.startswith("onnxruntime-cpu")
    assert good_report.fastest_passing is not None


def test_report_json_and_markdown(good_report) -> None:
    data = json.loads(json.dumps(good_report.to_dict()))
    assert data["passed"] is True and len(data["results"]) == 3
    assert data["results"][2]["latency_ms"]["8"]["median"] > 0
    assert data["tolerances"]["int8"]["max_abs_logit_diff"] == VerifyTolerances().int8.max_abs_logit_diff
    table = good_report.to_markdown().splitlines()
    assert table[0].startswith("| format | backend | status | size | clean | adv-probe | Square |")
    assert [line.split("|")[1].strip() for line in table[2:5]] == ["fp32", "fp16", "int8"]
    assert "Verdict: PASS" in good_report.to_markdown()


def test_double_normalisation_fails_verify(tmp_path: Path) -> None:
    broken = make_bundle(tmp_path / "broken", formats=("fp32",), double_normalisation=True)
    report = verify_bundle(broken, options=FAST)
    assert not report.passed
    (row,) = report.results
    assert row.status == "fail"
    assert any(f.startswith("max |dlogit|") for f in row.failures)
    assert report.fastest_passing is None
    assert "Verdict: FAIL" in report.to_markdown()


def test_tightened_gates_fail_with_the_tolerance_named(good_bundle: Path, good_report) -> None:
    above = good_report.results[1].square_acc + 0.01
    tol = VerifyTolerances.from_dict(
        {"int8": {"max_abs_logit_diff": 1e-6}, "fp16": {"min_square_acc": above, "max_size_mb": 1e-6}}
    )
    report = verify_bundle(good_bundle, tol, formats=["int8", "fp16"], options=FAST)
    fp16, int8 = report.results  # fp32 is not verified, so the Square drop gate has no reference
    assert not report.passed
    assert len(int8.failures) == 1 and "max_abs_logit_diff 1e-06" in int8.failures[0]
    assert sorted(f.split()[-2] for f in fp16.failures) == ["max_size_mb", "min_square_acc"]


def test_square_drop_is_gated_against_fp32(good_bundle: Path) -> None:
    report = verify_bundle(
        good_bundle, VerifyTolerances.from_dict({"int8": {"max_square_acc_drop": -1.0}}), options=FAST
    )
    int8 = report.results[2]
    assert any("Square acc drop vs fp32" in f for f in int8.failures)


def test_l2_bundle_skips_square(bundle_copy) -> None:
    root = bundle_copy()
    manifest = json.loads((root / MANIFEST_FILE).read_text())
    manifest["threat_model"] = {"eps": 0.5, "norm": "l2"}
    (root / MANIFEST_FILE).write_text(json.dumps(manifest))
    report = verify_bundle(root, formats=["fp32"], options=FAST)
    assert report.passed and report.results[0].square_acc is None and report.square_queries == 0
    assert "Square attack not run" in report.to_markdown()


def test_unknown_or_missing_backend_is_bad_input(good_bundle: Path) -> None:
    with pytest.raises(BundleError, match="unknown backend"):
        verify_bundle(good_bundle, backends=["openvino"], options=FAST)
    with pytest.raises(BundleError, match="batch sizes must be positive"):
        verify_bundle(good_bundle, options=replace(FAST, batch_sizes=(0, 8)))
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        with pytest.raises(BackendUnavailable, match="CUDAExecutionProvider is not available"):
            verify_bundle(good_bundle, backends=["onnxruntime-cuda"], options=FAST)


def test_each_int8_file_runs_on_the_runtimes_it_is_for(good_bundle: Path, tmp_path: Path) -> None:
    bundle = load_bundle(good_bundle)
    assert bundle.model_path("int8", "onnxruntime-cpu").name == "model.int8.onnx"
    assert bundle.model_path("int8", "openvino-cpu").name == "model.int8.onnx"
    assert bundle.model_path("int8", "tensorrt").name == "model.int8.tensorrt.onnx"
    assert bundle.model_path("fp32", "tensorrt").name == "model.onnx"
    cpu_only = load_bundle(make_bundle(tmp_path / "cpu", formats=("fp32", "int8"), tensorrt=False))
    with pytest.raises(BundleError, match="no int8 file for tensorrt"):
        cpu_only.model_path("int8", "tensorrt")


def test_tampered_alternate_int8_file_is_caught(bundle_copy) -> None:
    root = bundle_copy()
    with open(root / "model.int8.tensorrt.onnx", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(BundleError, match="sha256 mismatch"):
        load_bundle(root)


def test_reference_at_chance_is_not_a_pass(bundle_copy) -> None:
    root = bundle_copy()
    probes = dict(np.load(root / "probes.npz"))
    probes["labels"] = (probes["clean_logits"].argmax(1) + 1) % 4  # PyTorch now wrong on every probe
    np.savez(root / "probes.npz", **probes)
    manifest = json.loads((root / MANIFEST_FILE).read_text())
    manifest["probes"]["sha256"] = sha256_file(root / "probes.npz")
    del manifest["square"]  # recorded for the old labels
    (root / MANIFEST_FILE).write_text(json.dumps(manifest))
    report = verify_bundle(root, formats=["fp32"], options=FAST)
    assert report.results[0].status == "pass" and report.reference_at_chance and not report.passed
    assert "at chance for 4 classes" in report.to_markdown()
    allowed = verify_bundle(root, formats=["fp32"], options=replace(FAST, allow_chance_reference=True))
    assert allowed.passed and "allowed by allow_chance_reference" in allowed.to_markdown()


def test_square_runs_on_the_recorded_points_against_pytorch(good_bundle: Path, good_report) -> None:
    record = load_bundle(good_bundle).manifest["square"]
    assert good_report.square_points == len(record["indices"]) < good_report.n_probes
    # the probes are exact worst cases of a linear model, so the points they leave robust are certified:
    # Square cannot fool them (the CNN test in tests/bundling shows a budget that does)
    assert good_report.pytorch_square_acc == record["pytorch_square_acc"] == 1.0
    assert f"judged in whole points (1 of {good_report.square_points})" in good_report.to_markdown()
    fp32 = good_report.results[0]
    assert abs(fp32.square_acc - record["pytorch_square_acc"]) <= 0.02
    strict = VerifyTolerances.from_dict({"fp16": {"max_square_acc_drop": -0.5}})
    report = verify_bundle(good_bundle, strict, formats=["fp16"], options=FAST)
    assert any("Square acc drop vs PyTorch on the same points" in f for f in report.results[0].failures)
    other = verify_bundle(good_bundle, formats=["fp32"], options=replace(FAST, square_queries=30))
    assert other.pytorch_square_acc is None and other.square_points == other.n_probes
    assert "compared with fp32 only" in other.to_markdown()


def test_latency_is_timed_round_robin_with_speedups(good_report) -> None:
    data = good_report.to_dict()
    assert data["latency"] == {"interleaved": True, "runs": FAST.latency_runs, "threads": env_threads()}
    fp32, fp16, int8 = good_report.results
    for batch in (1, 8):
        assert good_report.speedup_vs_fp32(fp32, batch) == 1.0
        expected = fp32.latency[batch].median_ms / int8.latency[batch].median_ms
        assert data["results"][2]["latency_ms"][str(batch)]["speedup_vs_fp32"] == pytest.approx(expected)
    head = good_report.to_markdown().splitlines()[0]
    assert "| latency b1 (ms) | vs fp32 b1 | latency b8 (ms) | vs fp32 b8 |" in head
    assert "timed round-robin in one loop" in good_report.to_markdown()


def test_each_checked_row_is_reported_as_i_of_n(good_bundle: Path) -> None:
    heard: list[tuple[int, int]] = []
    report = verify_bundle(
        good_bundle, formats=["fp32", "int8"], on_row=lambda i, n: heard.append((i, n)), options=FAST
    )
    assert heard == [(1, 2), (2, 2)] and len(report.results) == 2


def test_a_bf16_runtime_is_timed_against_the_exact_runtimes_fp32() -> None:
    """openvino-cpu-bf16 runs the fp32 file: 'vs fp32' divides openvino-cpu's exact fp32 time, not its own."""

    def row(backend: str, fmt: str, ms: float) -> FormatResult:
        return FormatResult(format=fmt, backend=backend, latency={1: Latency(1, ms, ms, 10)})

    exact, bf16, int8 = (
        row("openvino-cpu", "fp32", 9.0),
        row("openvino-cpu-bf16", "fp32", 3.0),
        row("openvino-cpu", "int8", 4.5),
    )
    report = VerifyReport("b", 0.1, "linf", 8, 0.9, 0.5, 100, 0, VerifyTolerances(), [exact, bf16, int8])
    assert report.speedup_vs_fp32(bf16, 1) == 3.0 and report.speedup_vs_fp32(int8, 1) == 2.0
    assert (
        VerifyReport("b", 0.1, "linf", 8, 0.9, 0.5, 100, 0, VerifyTolerances(), [bf16]).speedup_vs_fp32(
            bf16, 1
        )
        is None
    )


def test_square_drop_is_judged_in_whole_points_of_its_sample() -> None:
    """On 12 points 0.05 cannot be measured: one point may fall (int8 noise), two fail the row."""
    from compressor_edge.verify import _gate_failures, _References, square_drop_bound

    assert square_drop_bound(0.05, 12) == pytest.approx(1 / 12)
    assert square_drop_bound(0.05, 200) == pytest.approx(0.05)  # already whole points: unchanged
    assert square_drop_bound(0.0, 12) == 0.0 and square_drop_bound(-1.0, 12) == -1.0

    def failures(square_acc: float) -> list[str]:
        row = FormatResult(
            format="int8", backend="onnxruntime-cpu", max_abs_logit_diff=0.1, rel_logit_diff=0.01,
            top1_agreement=1.0, clean_acc=0.9, adv_probe_acc=0.8, square_acc=square_acc,
        )  # fmt: skip
        tol = VerifyTolerances().for_format("int8")
        return _gate_failures(row, tol, _References(0.9, 0.8, 1.0, 1.0, square_points=12))

    assert failures(11 / 12) == []
    lost_two = failures(10 / 12)
    assert len(lost_two) == 2 and all("0.083 in whole points of 12" in f for f in lost_two)
