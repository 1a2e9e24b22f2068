"""Small ONNX models made in tests (real models, not doubles)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def pinned_model(batch: int = 4) -> onnx.ModelProto:
    """A static-batch model whose Reshape constant pins the batch (as exporters bake in)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 6])
    shape = numpy_helper.from_array(np.array([batch, 6], np.int64), "target")
    g = helper.make_graph([helper.make_node("Reshape", ["x", "target"], ["y"], name="flatten")], "pinned", [x], [y],
                          initializer=[shape])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


def static_model(batch: int = 2) -> onnx.ModelProto:
    """A static-batch model that can be made dynamic (Reshape target uses 0 for the batch)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 6])
    shape = numpy_helper.from_array(np.array([0, 6], np.int64), "target")
    w = numpy_helper.from_array(np.full((6, 6), 0.5, np.float32), "w")
    nodes = [helper.make_node("Reshape", ["x", "target"], ["r"]), helper.make_node("MatMul", ["r", "w"], ["y"])]
    g = helper.make_graph(nodes, "static", [x], [y], initializer=[shape, w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


def old_model() -> onnx.ModelProto:
    """IR 3 / opset 9 style: initializers are also listed as graph inputs; fully static shapes."""
    x = helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 4])
    wv = helper.make_tensor_value_info("W", TensorProto.FLOAT, [4, 3])
    y = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3])
    w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3), "W")
    g = helper.make_graph([helper.make_node("MatMul", ["data", "W"], ["out"])], "old", [x, wv], [y], initializer=[w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 9)])
    m.ir_version = 3
    return m


def two_input_model() -> onnx.ModelProto:
    """Dynamic batch and a dynamic sequence axis, two inputs."""
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", "seq", 8])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, ["batch", "seq", 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "seq", 8])
    g = helper.make_graph([helper.make_node("Add", ["a", "b"], ["y"])], "two", [a, b], [y])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m
