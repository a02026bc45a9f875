"""The compressor-edge CLI: exit codes 0 / 1 / 2 and one-line errors, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tiny_bundles import make_bundle

from compressor_edge.cli import main

FAST = ["--square-queries", "50", "--latency-runs", "3", "--batch-sizes", "1,4"]


def test_verify_pass_writes_json_and_markdown(good_bundle: Path, tmp_path: Path, capsys) -> None:
    code = main(
        [
            "verify",
            str(good_bundle),
            *FAST,
            "--json",
            str(tmp_path / "r.json"),
            "--markdown",
            str(tmp_path / "r.md"),
        ]
    )
    assert code == 0
    assert "Verdict: PASS" in capsys.readouterr().out
    assert json.loads((tmp_path / "r.json").read_text())["passed"] is True
    assert (tmp_path / "r.md").read_text().startswith("| format |")


def test_verify_gate_failure_exits_1(tmp_path: Path, capsys) -> None:
    broken = make_bundle(tmp_path / "broken", formats=("fp32",), double_normalisation=True)
    assert main(["verify", str(broken), *FAST]) == 1
    assert "Verdict: FAIL" in capsys.readouterr().out


def test_verify_with_tolerance_file(good_bundle: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "tol.json").write_text(json.dumps({"fp32": {"max_abs_logit_diff": 0.0}}))
    assert (
        main(
            [
                "verify",
                str(good_bundle),
                *FAST,
                "--formats",
                "fp32",
                "--tolerances",
                str(tmp_path / "tol.json"),
            ]
        )
        == 1
    )
    (tmp_path / "bad.json").write_text(json.dumps({"fp32": {"max_abs_logit": 0.0}}))
    assert main(["verify", str(good_bundle), "--tolerances", str(tmp_path / "bad.json")]) == 2
    assert "did you mean 'max_abs_logit_diff'" in capsys.readouterr().err


def test_bad_input_exits_2_with_one_line(tmp_path: Path, bundle_copy, capsys) -> None:
    assert main(["verify", str(tmp_path / "missing")]) == 2
    root = bundle_copy()
    (root / "model.onnx").write_bytes(b"garbage")
    assert main(["bench", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "sha256 mismatch" in err and "Traceback" not in err


def test_bench_prints_a_row_per_format_and_batch(good_bundle: Path, capsys) -> None:
    assert (
        main(["bench", str(good_bundle), "--formats", "fp32,int8", "--batch-sizes", "1,4", "--runs", "3"])
        == 0
    )
    rows = [
        line
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("| fp32") or line.startswith("| int8")
    ]
    assert len(rows) == 4


def test_predict_png_and_npy(good_bundle: Path, tmp_path: Path, capsys) -> None:
    from compressor_edge import load_bundle

    probes = load_bundle(good_bundle).probes()
    np.save(tmp_path / "probes.npy", probes.clean_images[:3])
    Image.fromarray((probes.clean_images[0].transpose(1, 2, 0) * 255).round().astype(np.uint8)).save(
        tmp_path / "a.png"
    )
    assert (
        main(
            [
                "predict",
                str(good_bundle),
                str(tmp_path / "probes.npy"),
                str(tmp_path / "a.png"),
                "--top-k",
                "2",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    names = ["cat", "dog", "ship", "frog"]
    predicted = [line.split("\t")[1] for line in lines]
    assert predicted[:3] == [names[i] for i in probes.labels[:3]]
    assert predicted[3] == names[probes.labels[0]]  # 8-bit rounding does not change this prediction
    assert all(len(line.split("\t")) == 5 for line in lines)


def test_predict_bad_image_exits_2(good_bundle: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "x.gif").write_bytes(b"GIF89a")
    assert main(["predict", str(good_bundle), str(tmp_path / "x.gif")]) == 2
    assert "unsupported file type" in capsys.readouterr().err


def test_argument_errors_exit_2(good_bundle: Path) -> None:
    with pytest.raises(SystemExit) as info:
        main(["verify", str(good_bundle), "--formats", "int4"])
    assert info.value.code == 2


def test_module_entry_point_runs_in_a_subprocess(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "compressor_edge.cli", "verify", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
