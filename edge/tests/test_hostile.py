"""Hostile bundles and arguments through the real CLI: exit 2, one error line, nothing opened outside the
bundle (traced with a Python audit hook on every `open` event), nothing written on failure."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tiny_bundles import make_bundle

import compressor_edge.bundle as bundle_module
import compressor_edge.cli as cli
from compressor_edge.bundle import MANIFEST_FILE
from compressor_edge.cli import main
from compressor_edge.files import sha256_file

FAST = ["--latency-runs", "2", "--batch-sizes", "1"]
_OPENED: list[str] | None = None  # paths opened while a test traces (None: not tracing)


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _OPENED is not None and event == "open" and isinstance(args[0], str | bytes | os.PathLike):
        _OPENED.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)  # audit hooks cannot be removed; it records only inside `traced_opens`


@pytest.fixture
def traced_opens() -> Iterator[list[str]]:
    """Every path Python opens (builtins, pathlib, numpy, io.open_code) while the test runs."""
    global _OPENED
    _OPENED = []
    try:
        yield _OPENED
    finally:
        _OPENED = None


def _edit(root: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    path = root / MANIFEST_FILE
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


def _one_line_exit_2(code: int, capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err and "internal error" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def _assert_nothing_opened_outside(opened: list[str], root: Path) -> None:
    """Only Python's own modules (imports) may be opened outside the bundle; nothing of the manifest's."""
    inside = root.resolve()
    modules = (".py", ".pyc", ".so", ".pth")
    outside = [p for p in opened if not Path(p).resolve().is_relative_to(inside) and not p.endswith(modules)]
    assert outside == [], outside


@pytest.fixture
def hostile(bundle_copy, tmp_path: Path) -> Callable[[], tuple[Path, Path]]:
    """A writable bundle and, beside it, a folder of files a hostile manifest may point at."""

    def make() -> tuple[Path, Path]:
        root = bundle_copy()
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "model.onnx").write_bytes((root / "model.onnx").read_bytes())  # same hash
        (outside / "probes.npz").write_bytes((root / "probes.npz").read_bytes())
        (outside / MANIFEST_FILE).write_bytes((root / MANIFEST_FILE).read_bytes())
        return root, outside

    return make


def _symlink_model(root: Path, outside: Path) -> None:
    (root / "model.onnx").unlink()
    (root / "model.onnx").symlink_to(outside / "model.onnx")


def _symlink_manifest(root: Path, outside: Path) -> None:
    (root / MANIFEST_FILE).unlink()
    (root / MANIFEST_FILE).symlink_to(outside / MANIFEST_FILE)


def _set(*keys: str | int, value: Callable[[Path], Any]) -> Callable[[Path, Path], None]:
    """An attack that sets manifest[keys...] to value(outside folder)."""

    def attack(root: Path, outside: Path) -> None:
        def edit(manifest: dict[str, Any]) -> None:
            target = manifest
            for key in keys[:-1]:
                target = target[key]
            target[keys[-1]] = value(outside)

        _edit(root, edit)

    return attack


CONTAINMENT = {
    "absolute model path": _set("formats", "fp32", "file", value=lambda out: str(out / "model.onnx")),
    "../ model path": _set("formats", "fp32", "file", value=lambda out: "../outside/model.onnx"),
    "../ hidden mid-path": _set("formats", "fp16", "file", value=lambda out: "x/../../outside/model.onnx"),
    "probes at /etc/passwd": _set("probes", "file", value=lambda out: "/etc/passwd"),
    "probes outside": _set("probes", "file", value=lambda out: "../outside/probes.npz"),
    "int8 alternate outside": _set(
        "formats", "int8", "alternates", 0, "file", value=lambda out: "../outside/model.onnx"
    ),
    "model symlink out": _symlink_model,
    "manifest symlink out": _symlink_manifest,
}


@pytest.mark.parametrize("attack", CONTAINMENT.values(), ids=CONTAINMENT.keys())
@pytest.mark.parametrize("command", ["verify", "bench"])
def test_files_outside_the_bundle_are_refused_before_opening(
    hostile, attack, command: str, traced_opens: list[str], tmp_path: Path, capsys
) -> None:
    root, outside = hostile()
    attack(root, outside)
    report = tmp_path / "report.json"
    traced_opens.clear()
    code = main([command, str(root), "--json", str(report)])
    _one_line_exit_2(code, capsys, "outside the bundle")
    _assert_nothing_opened_outside(traced_opens, root)
    assert not report.exists()


def test_the_tracer_sees_what_loading_opens(good_bundle: Path, traced_opens: list[str]) -> None:
    from compressor_edge import load_bundle

    load_bundle(good_bundle).probes()
    assert {str(good_bundle / "model.onnx"), str(good_bundle / "probes.npz")} <= set(traced_opens)
    with pytest.raises(AssertionError):
        _assert_nothing_opened_outside([*traced_opens, "/etc/passwd"], good_bundle)


def test_symlink_inside_the_bundle_is_fine(bundle_copy, capsys) -> None:
    root = bundle_copy()
    (root / "real").mkdir()
    (root / "model.onnx").rename(root / "real" / "model.onnx")
    (root / "model.onnx").symlink_to(root / "real" / "model.onnx")
    assert main(["bench", str(root), "--formats", "fp32", "--runs", "2", "--batch-sizes", "1"]) == 0


MANIFEST_TYPES = {
    "input.shape a string": (lambda m: m["input"].update(shape="3x8x8"), "input.shape: expected"),
    "input.shape too short": (lambda m: m["input"].update(shape=["batch", 3, 8]), "input.shape: expected"),
    "input.shape huge": (lambda m: m["input"]["shape"].__setitem__(2, 10**9), "input.shape[2]: expected"),
    "input.name a number": (lambda m: m["input"].update(name=5), "input.name: expected"),
    "formats.fp32 null": (lambda m: m["formats"].update(fp32=None), "formats.fp32: expected an object"),
    "formats a list": (lambda m: m.update(formats=["fp32"]), "formats: expected an object"),
    "sha256 a number": (lambda m: m["formats"]["fp16"].update(sha256=12), "formats.fp16.sha256: expected"),
    "runtimes a string": (
        lambda m: m["formats"]["int8"].update(runtimes="tensorrt"),
        "formats.int8.runtimes: expected a list",
    ),
    "unknown runtime": (
        lambda m: m["formats"]["int8"].update(runtimes=["tpu"]),
        "formats.int8.runtimes[0]: expected one of",
    ),
    "float_nodes a string": (
        lambda m: m["formats"]["int8"]["quantization"].update(float_nodes="conv1"),
        "formats.int8.quantization.float_nodes: expected a list",
    ),
    "class_names shorter than logits": (
        lambda m: m.update(class_names=["cat", "dog"]),
        "output.shape: 4 logits, but class_names lists 2",
    ),
    "class_names numbers": (lambda m: m.update(class_names=[1, 2, 3, 4]), "class_names[0]: expected"),
    "eps a string": (lambda m: m["threat_model"].update(eps="0.03"), "threat_model.eps: expected"),
    "eps a boolean": (lambda m: m["threat_model"].update(eps=True), "threat_model.eps: expected"),
    "linf eps above 1": (lambda m: m["threat_model"].update(eps=5), "threat_model.eps: expected"),
    "probes null": (lambda m: m.update(probes=None), "probes: expected an object"),
    "schema_version a string": (lambda m: m.update(schema_version="1"), "schema_version: '1'"),
    "square.queries negative": (lambda m: m["square"].update(queries=-1), "square.queries: expected"),
    "square.indices out of range": (
        lambda m: m["square"].update(indices=[0, 9999]),
        "square.indices: probe 9999 does not exist",
    ),
}


@pytest.mark.parametrize(("edit", "field"), MANIFEST_TYPES.values(), ids=MANIFEST_TYPES.keys())
def test_wrong_manifest_types_are_bad_input_naming_the_field(bundle_copy, edit, field: str, capsys) -> None:
    root = bundle_copy()
    _edit(root, edit)
    _one_line_exit_2(main(["verify", str(root), *FAST]), capsys, field)


def test_manifest_that_is_not_an_object_or_too_deep(bundle_copy, capsys) -> None:
    root = bundle_copy()
    (root / MANIFEST_FILE).write_text("[1, 2]")
    _one_line_exit_2(main(["verify", str(root)]), capsys, "top level: expected an object")
    (root / MANIFEST_FILE).write_text("[" * 100_000)
    _one_line_exit_2(main(["verify", str(root)]), capsys, "not valid JSON")


def test_predict_with_fewer_class_names_than_logits(bundle_copy, tmp_path: Path, capsys) -> None:
    root = bundle_copy()
    _edit(root, lambda m: (m.update(class_names=["cat", "dog"]), m["output"].update(shape=["batch", 2])))
    np.save(tmp_path / "x.npy", np.zeros((1, 3, 8, 8), dtype=np.float32))
    _one_line_exit_2(main(["predict", str(root), str(tmp_path / "x.npy")]), capsys, "lists 2 class_names")


def test_probes_that_unpack_too_large_are_refused(
    good_bundle: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setattr(bundle_module, "MAX_PROBES_BYTES", 1000)  # the tiny bundle's probes are ~50 KB
    _one_line_exit_2(main(["verify", str(good_bundle)]), capsys, "probes.npz: its arrays unpack to")


def test_probes_that_are_not_an_archive_are_refused(bundle_copy, capsys) -> None:
    root = bundle_copy()
    with (root / "probes.npz").open("wb") as f:
        np.save(f, np.zeros(3))
    _edit(root, lambda m: m["probes"].update(sha256=sha256_file(root / "probes.npz")))
    _one_line_exit_2(main(["verify", str(root)]), capsys, "expected an .npz archive")


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the CLI starts loading a bundle: argument errors must come first."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the CLI started work before checking its arguments")

    for name in ("load_bundle", "verify_bundle"):
        monkeypatch.setattr(cli, name, refuse)


BAD_ARGUMENTS = {
    "bench --runs 0": (["bench", "B", "--runs", "0"], "--runs: expected an integer >= 1"),
    "bench --warmup -1": (["bench", "B", "--warmup", "-1"], "--warmup: expected an integer >= 0"),
    "verify --latency-runs 0": (["verify", "B", "--latency-runs", "0"], "--latency-runs: expected"),
    "verify --square-queries 0": (
        ["verify", "B", "--square-queries", "0"],
        "to skip Square say --skip-square",
    ),
    "verify --square-queries -1": (["verify", "B", "--square-queries", "-1"], "--square-queries: expected"),
    "verify --seed -1": (["verify", "B", "--seed", "-1"], "--seed: expected an integer >= 0"),
    "verify --threads 0": (["verify", "B", "--threads", "0"], "--threads: expected"),
    "predict --top-k 0": (["predict", "B", "x.npy", "--top-k", "0"], "--top-k: expected"),
    "square budget and skip": (
        ["verify", "B", "--skip-square", "--square-queries", "5"],
        "not allowed with argument",
    ),
    "--json in a missing folder": (["verify", "B", "--json", "missing/dir/x.json"], "does not exist"),
    "--markdown is a folder": (["verify", "B", "--markdown", "."], "is a folder"),
    "bench --json in a missing folder": (["bench", "B", "--json", "missing/x.json"], "does not exist"),
}


@pytest.mark.parametrize(("argv", "message"), BAD_ARGUMENTS.values(), ids=BAD_ARGUMENTS.keys())
def test_bad_arguments_stop_before_any_work(
    good_bundle: Path, no_work: None, argv: list[str], message: str, capsys
) -> None:
    argv = [str(good_bundle) if a == "B" else a for a in argv]
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    _one_line_exit_2(2, capsys, message)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any folder")
def test_output_in_a_read_only_folder(good_bundle: Path, no_work: None, tmp_path: Path, capsys) -> None:
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(SystemExit):
            main(["verify", str(good_bundle), "--json", str(tmp_path / "r.json")])
    finally:
        tmp_path.chmod(0o700)
    _one_line_exit_2(2, capsys, "is not writable")


def test_skipped_square_is_never_a_pass(good_bundle: Path, tmp_path: Path, capsys) -> None:
    report = tmp_path / "r.json"
    code = main(["verify", str(good_bundle), "--skip-square", *FAST, "--json", str(report)])
    out = capsys.readouterr().out
    assert code == cli.EXIT_INCOMPLETE == 4
    verdict = next(line for line in out.splitlines() if line.startswith("Verdict:"))
    assert "INCOMPLETE" in verdict and "PASS" not in verdict
    written = json.loads(report.read_text())
    assert written["passed"] is False and written["square_skipped"] is True
    assert all(row["square_acc"] is None for row in written["results"])


def test_skipped_square_with_a_failed_gate_is_a_failure(tmp_path: Path, capsys) -> None:
    broken = make_bundle(tmp_path / "broken", formats=("fp32",), double_normalisation=True)
    assert main(["verify", str(broken), "--skip-square", *FAST]) == 1
    assert "Verdict: FAIL" in capsys.readouterr().out


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height (no image data: the size check must come first)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + chunk + end


@pytest.mark.parametrize("side", [8000, 20000])  # over the kit's cap; over Pillow's bomb limit
def test_oversized_image_is_bad_input(good_bundle: Path, tmp_path: Path, side: int, capsys) -> None:
    (tmp_path / "big.png").write_bytes(_png_header(side, side))
    code = main(["predict", str(good_bundle), str(tmp_path / "big.png")])
    _one_line_exit_2(code, capsys, "image too large", "megapixels")


def test_npy_declaring_a_huge_array_is_bad_input(good_bundle: Path, tmp_path: Path, capsys) -> None:
    path = tmp_path / "huge.npy"
    with path.open("wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f4", "fortran_order": False, "shape": (10**9, 3, 8, 8)}
        )
    _one_line_exit_2(main(["predict", str(good_bundle), str(path)]), capsys, str(path))


def test_hostile_bundle_through_the_installed_entry_point(hostile, tmp_path: Path) -> None:
    root, outside = hostile()
    CONTAINMENT["probes at /etc/passwd"](root, outside)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "compressor_edge.cli",
            "verify",
            str(root),
            "--json",
            str(tmp_path / "r.json"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "probes.file: '/etc/passwd' points outside" in result.stderr
    assert not (tmp_path / "r.json").exists()
