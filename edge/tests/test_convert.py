"""fp16 and int8 conversion: float32 I/O kept, sorted valid graphs, QDQ in the scheme each runtime fuses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, numpy_helper
from tiny_bundles import linear_onnx, probe_set

from compressor_edge.convert import convert_to_fp16, quantize_int8, sort_nodes


def _io_types(model: onnx.ModelProto) -> list[int]:
    return [v.type.tensor_type.elem_type for v in [*model.graph.input, *model.graph.output]]


def test_fp16_keeps_float32_io_and_a_sorted_graph(tmp_path: Path) -> None:
    onnx.save(linear_onnx(), tmp_path / "m.onnx")
    convert_to_fp16(tmp_path / "m.onnx", tmp_path / "h.onnx")
    model = onnx.load(tmp_path / "h.onnx")
    onnx.checker.check_model(model)
    assert _io_types(model) == [TensorProto.FLOAT, TensorProto.FLOAT]
    assert {t.data_type for t in model.graph.initializer} == {TensorProto.FLOAT16}


def _qdq(path: Path) -> tuple[onnx.ModelProto, dict[str, np.ndarray], list[onnx.NodeProto]]:
    model = onnx.load(path)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    quant = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert _io_types(model) == [TensorProto.FLOAT, TensorProto.FLOAT] and len(quant) >= 3
    return model, inits, quant


def _weight_dq(inits: dict[str, np.ndarray], quant: list[onnx.NodeProto]) -> list[onnx.NodeProto]:
    return [
        n
        for n in quant
        if n.op_type == "DequantizeLinear"
        and inits.get(n.input[0]) is not None
        and inits[n.input[0]].ndim == 2
    ]


def test_cpu_int8_is_u8s8_qdq_with_int32_bias(good_bundle: Path) -> None:
    _, inits, quant = _qdq(good_bundle / "model.int8.onnx")
    zero_points = [inits[n.input[2]] for n in quant]
    assert any(z.dtype == np.uint8 for z in zero_points)  # activations: asymmetric uint8
    weights = _weight_dq(inits, quant)
    assert weights and all(inits[n.input[0]].dtype == np.int8 for n in weights)
    assert all(inits[n.input[1]].shape == (4,) for n in weights)  # one scale per class row
    assert all(not inits[n.input[2]].any() for n in weights)  # weights symmetric
    assert any(a.dtype == np.int32 and a.ndim == 1 for a in inits.values())  # the quantised bias


def test_tensorrt_int8_is_symmetric_per_channel_with_float_bias(tmp_path: Path) -> None:
    onnx.save(linear_onnx(), tmp_path / "m.onnx")
    settings = quantize_int8(tmp_path / "m.onnx", tmp_path / "q.onnx", probe_set(64)[0], target="tensorrt")
    assert settings["runtimes"] == ["tensorrt"] and settings["reduce_range"] is False
    _, inits, quant = _qdq(tmp_path / "q.onnx")
    for node in quant:
        zero_point = inits[node.input[2]]
        assert zero_point.dtype == np.int8 and not zero_point.any()
    assert not any(a.dtype == np.int32 for a in inits.values())  # biases stay float
    weights = _weight_dq(inits, quant)
    assert weights and all(inits[n.input[1]].shape == (4,) for n in weights)


def test_int8_rejects_bad_settings(tmp_path: Path) -> None:
    onnx.save(linear_onnx(), tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="calibration method"):
        quantize_int8(tmp_path / "m.onnx", tmp_path / "q.onnx", probe_set(4)[0], method="kl")
    with pytest.raises(ValueError, match="non-empty"):
        quantize_int8(tmp_path / "m.onnx", tmp_path / "q.onnx", np.zeros((0, 3, 8, 8), np.float32))
    with pytest.raises(ValueError, match="int8 target"):
        quantize_int8(tmp_path / "m.onnx", tmp_path / "q.onnx", probe_set(4)[0], target="gpu")


def test_sort_nodes_repairs_order_and_detects_cycles() -> None:
    model = linear_onnx()
    nodes = list(model.graph.node)
    model.graph.ClearField("node")
    model.graph.node.extend(reversed(nodes))
    sort_nodes(model.graph)
    onnx.checker.check_model(model)
    model.graph.node[0].input[0] = "undefined"
    with pytest.raises(ValueError, match="cycle or an undefined input"):
        sort_nodes(model.graph)


def test_the_calibration_cache_calibrates_once_for_every_later_file(tmp_path: Path) -> None:
    """The robust-int8 search quantises one model many times: the activation ranges come from the first call."""
    import inspect

    from onnxruntime.quantization import quantize_static

    if "calibration_cache_path" not in inspect.signature(quantize_static).parameters:
        pytest.skip("this onnxruntime has no calibration cache: every call calibrates (slower, same files)")
    onnx.save(linear_onnx(), tmp_path / "m.onnx")
    images, cache = probe_set(64)[0], tmp_path / "calibration.json"
    quantize_int8(tmp_path / "m.onnx", tmp_path / "first.onnx", images, calibration_cache=cache)
    assert cache.is_file()
    darker = images * 0.5  # other images: ranges calibrated on them would differ
    quantize_int8(tmp_path / "m.onnx", tmp_path / "cached.onnx", darker, calibration_cache=cache)
    quantize_int8(tmp_path / "m.onnx", tmp_path / "fresh.onnx", darker)
    first, cached, fresh = (_qdq(tmp_path / f"{n}.onnx")[1] for n in ("first", "cached", "fresh"))
    assert first.keys() == cached.keys() and all(np.array_equal(first[k], cached[k]) for k in first)
    assert any(not np.array_equal(first[k], fresh[k]) for k in first), "the images must move some range"
