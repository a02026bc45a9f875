"""export_bundle on a trained CNN and a timm ResNet-18: files, manifest, hashes, parity, and verify."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from bundling_helpers import EPS, accuracy, make_cnn, with_images, with_options
from compressor_edge import VerifyOptions, VerifyTolerances, load_bundle, sha256_file, verify_bundle
from compressor_edge.square import margin

from compressor.bundling import ExportImages, ExportOptions, export_bundle
from compressor.config.schema import ExportConfig

FAST = VerifyOptions(square_queries=100, latency_runs=5, batch_sizes=(1, 16))


def test_bundle_files_manifest_and_hashes(cnn_bundle: Path, trained_cnn, bundle_args: dict[str, Any]) -> None:
    names = sorted(p.name for p in cnn_bundle.iterdir())
    assert names == ["manifest.json", "model.fp16.onnx", "model.int8.onnx", "model.onnx", "probes.npz"]
    manifest = json.loads((cnn_bundle / "manifest.json").read_text())
    for fmt, entry in manifest["formats"].items():
        assert entry["sha256"] == sha256_file(cnn_bundle / entry["file"]), fmt
        assert entry["export_check"]["images"] == 64
    assert manifest["probes"]["sha256"] == sha256_file(cnn_bundle / "probes.npz")
    assert manifest["input"] == {
        "name": "input",
        "shape": ["batch", 1, 8, 8],
        "dtype": "float32",
        "range": [0.0, 1.0],
        "layout": "NCHW",
        "color": "grayscale",
        "normalization": "inside the model (feed raw pixels / 255)",
    }
    assert manifest["output"]["shape"] == ["batch", 10]
    assert manifest["class_names"] == [str(d) for d in range(10)]
    assert manifest["threat_model"] == {"eps": EPS, "norm": "linf"}
    assert manifest["opset"] == 18 and manifest["exporter"] == "dynamo" and manifest["dynamic_batch"] is True
    assert {"torch", "onnx", "onnxruntime", "compressor-edge"} <= set(manifest["versions"])
    assert manifest["pytorch_metrics"] == bundle_args["pytorch_metrics"]
    quant = manifest["formats"]["int8"]["quantization"]
    assert quant["clean_calibration_images"] == 256 and quant["adversarial_calibration_images"] == 0
    assert manifest["formats"]["fp32"]["export_check"]["max_abs_logit_diff"] < 1e-4


def test_probes_hold_pytorch_logits(cnn_bundle: Path, trained_cnn, bundle_args: dict[str, Any]) -> None:
    probes, images = load_bundle(cnn_bundle).probes(), bundle_args["images"]
    with torch.inference_mode():
        clean = trained_cnn(images.probe_images).numpy()
        adv = trained_cnn(images.probe_adversarial_images).numpy()
    assert np.allclose(probes.clean_logits, clean, atol=1e-5) and np.allclose(
        probes.adversarial_logits, adv, atol=1e-5
    )
    assert np.array_equal(probes.labels, images.probe_labels.numpy())
    assert np.abs(probes.adversarial_images - probes.clean_images).max() <= EPS + 1e-6


def test_one_self_contained_file_with_dynamic_batch(cnn_bundle: Path) -> None:
    model = onnx.load(str(cnn_bundle / "model.onnx"), load_external_data=False)
    assert all(t.data_location == onnx.TensorProto.DEFAULT for t in model.graph.initializer)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [1, 8, 8]


def test_verify_passes_with_default_gates(cnn_bundle: Path) -> None:
    report = verify_bundle(cnn_bundle, options=FAST)
    print("\n" + report.to_markdown())
    assert report.passed, report.to_markdown()
    fp32 = report.results[0]
    assert fp32.clean_acc == report.pytorch_clean_acc and fp32.adv_probe_acc == report.pytorch_adv_acc
    assert 0.0 < fp32.square_acc <= fp32.clean_acc


def test_timm_resnet18_exports_all_formats_with_parity(tmp_path: Path) -> None:
    import timm

    from compressor.models.wrapper import Normalized

    torch.manual_seed(0)
    model = Normalized(
        timm.create_model("resnet18", pretrained=False, num_classes=10), [0.49, 0.48, 0.45], [0.25] * 3
    )
    model.eval()
    x = torch.rand(16, 3, 32, 32)
    y = model(x).argmax(1).detach()
    adv = (x + 0.01 * torch.sign(torch.randn_like(x))).clamp(0, 1)
    images = ExportImages(
        probe_images=x,
        probe_labels=y,
        probe_adversarial_images=adv,
        calibration_images=torch.rand(32, 3, 32, 32),
    )
    bundle = export_bundle(
        model, tmp_path / "r18", images, class_names=[f"c{i}" for i in range(10)], eps=0.01, norm="linf",
        pytorch_metrics={}, options=ExportOptions(square_queries=0),
    )  # fmt: skip
    manifest = load_bundle(bundle).manifest
    errors = {
        fmt: manifest["formats"][fmt]["export_check"]["max_abs_logit_diff"] for fmt in manifest["formats"]
    }
    print(f"\nresnet18 export check max |dlogit|: {errors}")
    assert errors["fp32"] < 1e-4 and errors["fp16"] < 0.05
    report = verify_bundle(
        bundle,
        formats=["fp32", "fp16"],
        options=VerifyOptions(skip_square=True, latency_runs=3, batch_sizes=(1, 4)),
    )
    assert report.gates_passed, report.to_markdown()


def test_torchscript_exporter_and_static_batch(
    tmp_path: Path, trained_cnn, bundle_args: dict[str, Any]
) -> None:
    args = with_options(bundle_args, formats=("fp32",), exporter="torchscript", dynamic_batch=False)
    bundle = export_bundle(trained_cnn, tmp_path / "ts", **args)
    manifest = load_bundle(bundle).manifest
    assert manifest["exporter"] == "torchscript" and manifest["input"]["shape"] == [1, 1, 8, 8]
    report = verify_bundle(bundle, options=FAST)
    assert report.passed, report.to_markdown()
    assert set(report.results[0].latency) == {1}  # a static batch-1 model is timed at batch 1 only


def test_int8_calibrated_on_clean_vs_clean_plus_adversarial(
    tmp_path: Path, trained_cnn, bundle_args: dict[str, Any], digits
) -> None:
    """Measures (does not assert) whether adversarial calibration preserves robustness better."""
    from bundling_helpers import pgd

    x_train, y_train = digits[0][:256], digits[1][:256]
    args = with_options(bundle_args, formats=("fp32", "int8"))
    clean = export_bundle(trained_cnn, tmp_path / "clean", **args)
    mixed_args = with_images(args, adversarial_calibration_images=pgd(trained_cnn, x_train, y_train))
    mixed = export_bundle(trained_cnn, tmp_path / "mixed", **mixed_args)
    rows = {}
    for name, bundle in (("clean calibration", clean), ("clean+adversarial calibration", mixed)):
        int8 = verify_bundle(bundle, formats=["int8"], options=FAST).results[0]
        rows[name] = int8
        print(
            f"\nint8, {name}: clean {int8.clean_acc:.3f}, adv-probe {int8.adv_probe_acc:.3f}, "
            f"Square {int8.square_acc:.3f}, max |dlogit| {int8.max_abs_logit_diff:.3f}"
        )
    quant = load_bundle(mixed).manifest["formats"]["int8"]["quantization"]
    assert quant["adversarial_calibration_images"] == 256 and quant["calibration_images"] == 512
    same = sha256_file(clean / "model.int8.onnx") == sha256_file(mixed / "model.int8.onnx")
    print(f"int8 files identical (MinMax ranges unchanged by the adversarial images): {same}")
    images = bundle_args["images"]
    pt_clean = accuracy(trained_cnn, images.probe_images, images.probe_labels)
    for int8 in rows.values():
        assert abs(int8.clean_acc - pt_clean) <= 0.1


def test_zero_drop_gates_fail_exactly_when_int8_loses_accuracy(cnn_bundle: Path) -> None:
    tol = VerifyTolerances.from_dict({"int8": {"max_clean_acc_drop": 0.0, "max_adv_acc_drop": 0.0}})
    report = verify_bundle(
        cnn_bundle, tol, formats=["int8"], options=replace(FAST, square_queries=None, skip_square=True)
    )
    int8 = report.results[0]
    dropped = report.pytorch_clean_acc > int8.clean_acc or report.pytorch_adv_acc > int8.adv_probe_acc
    assert report.gates_passed is not dropped


@pytest.mark.parametrize("wrong", ["labels", "classes", "eps", "range", "no_fp32", "no_calibration"])
def test_bad_arguments_are_one_line_user_errors(
    tmp_path: Path, bundle_args: dict[str, Any], wrong: str
) -> None:
    from compressor.errors import UserInputError

    args, images = dict(bundle_args), bundle_args["images"]
    if wrong == "labels":
        args = with_images(args, probe_labels=images.probe_labels[:5])
    elif wrong == "classes":
        args["class_names"] = ["a", "b"]
    elif wrong == "eps":
        args["eps"] = EPS / 10
    elif wrong == "range":
        args = with_images(args, probe_images=images.probe_images * 255)
    elif wrong == "no_fp32":
        args = with_options(args, formats=("int8",))
    else:
        args = with_images(args, calibration_images=None)
    with pytest.raises(UserInputError) as info:
        export_bundle(make_cnn().eval(), tmp_path / "b", **args)
    assert "\n" not in str(info.value) and info.value.exit_code == 2
    assert not (tmp_path / "b").exists() and not list(tmp_path.glob(".b.tmp-*"))


def test_int8_weight_range_on_this_cpu(cnn_bundle: Path, bundle_args: dict[str, Any], tmp_path: Path) -> None:
    """7-bit weights (the default) must agree with fp32; full-range agreement is printed (CPU-dependent)."""
    from compressor_edge import create_backend
    from compressor_edge.convert import quantize_int8

    images = bundle_args["images"].probe_images.numpy()
    calibration = bundle_args["images"].calibration_images.numpy()
    with create_backend("onnxruntime-cpu", cnn_bundle / "model.onnx") as backend:
        reference = backend.predict(images).argmax(1)
    agreement = {}
    for reduce_range in (True, False):
        path = tmp_path / f"int8_{reduce_range}.onnx"
        quantize_int8(cnn_bundle / "model.onnx", path, calibration, reduce_range=reduce_range)
        with create_backend("onnxruntime-cpu", path) as backend:
            agreement[reduce_range] = float((backend.predict(images).argmax(1) == reference).mean())
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    unfused = onnxruntime.InferenceSession(str(tmp_path / "int8_False.onnx"), options).run(
        None, {"input": images}
    )[0]
    unfused_agreement = float((unfused.argmax(1) == reference).mean())
    print(
        f"\nint8 top-1 agreement with fp32: 7-bit weights {agreement[True]:.3f}, 8-bit {agreement[False]:.3f}, "
        f"8-bit with onnxruntime graph optimisations off {unfused_agreement:.3f}"
    )
    assert agreement[True] >= 0.95


def test_int8_files_per_target_and_weight_range_from_this_cpu(
    tmp_path: Path, trained_cnn, bundle_args: dict[str, Any]
) -> None:
    from compressor_edge.machine import cpu_info

    args = with_options(bundle_args, formats=("fp32", "int8"), int8_tensorrt=True)
    bundle = export_bundle(trained_cnn, tmp_path / "t", **args)
    loaded = load_bundle(bundle)
    cpu, (trt,) = loaded.manifest["formats"]["int8"], loaded.manifest["formats"]["int8"]["alternates"]
    assert cpu["file"] == "model.int8.onnx" and "onnxruntime-cpu" in cpu["runtimes"]
    assert "openvino-cpu" in cpu["runtimes"] and "tensorrt" not in cpu["runtimes"]
    assert trt["file"] == "model.int8.tensorrt.onnx" and trt["runtimes"] == ["tensorrt"]
    assert cpu["quantization"]["activations"].startswith("uint8") and cpu["quantization"]["bias"] == "int32"
    assert trt["quantization"]["activations"].startswith("int8, symmetric")
    assert cpu["quantization"]["reduce_range"] is not cpu_info()["vnni"]  # "auto": 7 bits only without VNNI
    assert "VNNI" in cpu["quantization"]["reduce_range_reason"]
    assert trt["export_check"]["images"] == 64 and trt["sha256"] == sha256_file(bundle / trt["file"])
    assert loaded.model_path("int8", "tensorrt").name == trt["file"]


def test_square_is_recorded_on_robust_points_and_verify_matches_pytorch(cnn_bundle: Path) -> None:
    manifest = load_bundle(cnn_bundle).manifest
    record, probes = manifest["square"], load_bundle(cnn_bundle).probes()
    robust = (probes.clean_logits.argmax(1) == probes.labels) & (
        probes.adversarial_logits.argmax(1) == probes.labels
    )
    margins = margin(probes.adversarial_logits, probes.labels)
    chosen = np.asarray(record["indices"])
    assert len(chosen) == ExportConfig().square_points and robust[chosen].all() and record["queries"] == 1000
    assert margins[chosen].max() <= margins[robust & ~np.isin(np.arange(len(robust)), chosen)].min()
    assert 0.0 < record["pytorch_square_acc"] < 1.0  # this budget fools some of the points PGD could not
    report = verify_bundle(
        cnn_bundle, formats=["fp32"], options=VerifyOptions(latency_runs=3, batch_sizes=(1,))
    )
    fp32 = report.results[0]
    print(
        f"\nSquare on {report.square_points} robust probes: PyTorch {report.pytorch_square_acc:.3f}, fp32 {fp32.square_acc:.3f}"
    )
    assert report.pytorch_square_acc == record["pytorch_square_acc"]
    assert abs(fp32.square_acc - record["pytorch_square_acc"]) <= 0.02 and report.passed


def test_robustness_aware_int8_keeps_the_worst_layers_in_float(
    tmp_path: Path, trained_cnn, bundle_args: dict[str, Any], digits
) -> None:
    """Calibrated on under-exposed images (x 0.3, a calibration set from another camera setting), plain int8
    loses robust accuracy; keeping the ranked layers in float wins it back."""
    from bundling_helpers import pgd

    x_train, y_train = digits[0], digits[1]
    held_x, held_y = x_train[600:856], y_train[600:856]  # neither calibration images nor probes
    args = with_images(
        with_options(bundle_args, formats=("fp32", "int8"), square_queries=0, int8_max_robust_drop=0.02),
        calibration_images=x_train[:64] * 0.3,
        int8_robust_images=held_x,
        int8_robust_adversarial_images=pgd(trained_cnn, held_x, held_y),
        int8_robust_labels=held_y,
    )
    tried: list[tuple[int, int]] = []  # what the export stage's progress shows: candidates tried of the bound
    bundle = export_bundle(trained_cnn, tmp_path / "robust", **args, int8_progress=lambda *t: tried.append(t))
    record = load_bundle(bundle).manifest["formats"]["int8"]["quantization"]["robustness_aware"]
    assert tried[0] == (1, 1) and [done for done, _ in tried] == list(range(1, record["evaluations"] + 2))
    assert {bound for _, bound in tried[1:]} == {1 + record["max_evaluations"]}
    print(
        f"\nworst-case robust acc on {record['held_out_images']} held-out images: fp32 "
        f"{record['fp32_robust_acc']:.3f}, plain int8 {record['plain_int8_robust_acc']:.3f}, "
        f"with {record['float_nodes']} in float {record['robust_acc']:.3f}"
    )
    assert record["fp32_robust_acc"] - record["plain_int8_robust_acc"] > 0.02  # the case needs it
    assert len(record["ranking"]) == 3 and 1 <= len(record["float_nodes"]) <= 3
    assert record["gate_met"] and record["fp32_robust_acc"] - record["robust_acc"] <= 0.02
    assert record["robust_acc"] > record["plain_int8_robust_acc"]
    assert record["evaluations"] <= record["max_evaluations"] and record["search_seconds"] > 0
    kept = set(record["float_nodes"])
    for name in kept if len(kept) > 1 else ():  # each was tried back in int8 (the rest in float): it failed
        assert any(
            t["step"] == "prune"
            and not t["gate_met"]
            and set(t["float_nodes"]) >= kept - {name}
            and name not in t["float_nodes"]
            for t in record["trace"]
        )
    quant = load_bundle(bundle).manifest["formats"]["int8"]["quantization"]
    assert quant["float_nodes"] == record["float_nodes"]
    report = verify_bundle(
        bundle, formats=["int8"], options=VerifyOptions(skip_square=True, latency_runs=3, batch_sizes=(1,))
    )
    assert report.results[0].float_layers == record["float_nodes"]
    assert f"keeps {len(record['float_nodes'])} layer(s) in float" in report.to_markdown()
    assert "robust-int8 gate at export met" in report.to_markdown()
