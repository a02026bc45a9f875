"""fp16 and int8 conversion: float32 I/O kept, sorted valid graphs, QDQ as TensorRT needs it."""

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


def test_int8_is_symmetric_per_channel_qdq_with_float_bias(good_bundle: Path) -> None:
    model = onnx.load(good_bundle / "model.int8.onnx")
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    quant = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert _io_types(model) == [TensorProto.FLOAT, TensorProto.FLOAT]
    assert len(quant) >= 3
    for node in quant:
        zero_point = inits[node.input[2]]
        assert zero_point.dtype == np.int8 and not zero_point.any()
    assert not any(a.dtype == np.int32 for a in inits.values())  # biases stay float
    weight_dq = [n for n in quant if n.op_type == "DequantizeLinear" and inits.get(n.input[0]) is not None]
    assert weight_dq and all(inits[n.input[1]].shape == (4,) for n in weight_dq)  # one scale per class row


def test_int8_rejects_bad_settings(tmp_path: Path) -> None:
    onnx.save(linear_onnx(), tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="calibration method"):
        quantize_int8(tmp_path / "m.onnx", tmp_path / "q.onnx", probe_set(4)[0], method="kl")
    with pytest.raises(ValueError, match="non-empty"):
        quantize_int8(tmp_path / "m.onnx", tmp_path / "q.onnx", np.zeros((0, 3, 8, 8), np.float32))


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
