"""Small real ONNX models for the shape and input tests (issue #15): token ids, bias and scalar inputs,
independent dims, batch pins a Reshape makes, an opset-9 classifier with a Softmax output."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _model(nodes, name, inputs, outputs, inits, opset=17, ir=8) -> onnx.ModelProto:
    m = helper.make_model(helper.make_graph(nodes, name, inputs, outputs, initializer=inits),
                          opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = ir
    onnx.checker.check_model(m)
    return m


def token_model(vocab: int = 50, dim: int = 8) -> onnx.ModelProto:
    """ids [batch, seq] int64 -> Gather over a [vocab, dim] table -> ReduceSum over seq. Any id >= vocab makes
    onnxruntime fail (Gather checks its indices), so running proves the ids are in range."""
    table = numpy_helper.from_array(np.random.default_rng(0).standard_normal((vocab, dim)).astype(np.float32), "emb")
    nodes = [helper.make_node("Cast", ["ids"], ["ids64"], to=TensorProto.INT64),
             helper.make_node("Gather", ["emb", "ids64"], ["e"], name="embed"),
             helper.make_node("ReduceSum", ["e", "axes"], ["y"], keepdims=0)]
    axes = numpy_helper.from_array(np.array([1], np.int64), "axes")
    return _model(nodes, "tokens", [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "seq"])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", dim])], [table, axes])


def bias_scalar_model(static_batch=None) -> onnx.ModelProto:
    """x [batch, 8] + bias [8], times a scalar: bias and scale have no batch dim."""
    first = static_batch if static_batch else "batch"
    nodes = [helper.make_node("Add", ["x", "bias"], ["s"]), helper.make_node("Mul", ["s", "scale"], ["y"])]
    return _model(nodes, "bias", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [first, 8]),
                                  helper.make_tensor_value_info("bias", TensorProto.FLOAT, [8]),
                                  helper.make_tensor_value_info("scale", TensorProto.FLOAT, [])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [first, 8])], [])


def scalar_only_model() -> onnx.ModelProto:
    nodes = [helper.make_node("Mul", ["s", "two"], ["y"])]
    two = numpy_helper.from_array(np.array(2.0, np.float32), "two")
    return _model(nodes, "scalar", [helper.make_tensor_value_info("s", TensorProto.FLOAT, [])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])], [two])


def independent_dims_model() -> onnx.ModelProto:
    """a [n, 4] and b [m, 4]: two first dims with nothing in common; y = sum(a) + sum(b) per column."""
    axes = numpy_helper.from_array(np.array([0], np.int64), "axes")
    nodes = [helper.make_node("ReduceSum", ["a", "axes"], ["sa"], keepdims=0),
             helper.make_node("ReduceSum", ["b", "axes"], ["sb"], keepdims=0),
             helper.make_node("Add", ["sa", "sb"], ["y"])]
    return _model(nodes, "indep", [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["n", 4]),
                                   helper.make_tensor_value_info("b", TensorProto.FLOAT, ["m", 4])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])], [axes])


def classifier9(batch: int = 1, channels: int = 8, classes: int = 5, flat=None) -> onnx.ModelProto:
    """An opset-9, IR-3 export like the model zoo's: Conv -> Relu -> GlobalAveragePool -> Reshape to the constant
    [batch, channels] (the batch pin) -> Gemm -> Softmax as the graph output; every initializer is also a graph
    input. ``flat`` overrides the Reshape's constant target."""
    rng = np.random.default_rng(7)
    inits = [numpy_helper.from_array((0.3 * rng.standard_normal((channels, 3, 3, 3))).astype(np.float32), "conv_w"),
             numpy_helper.from_array((0.1 * rng.standard_normal(channels)).astype(np.float32), "conv_b"),
             numpy_helper.from_array(np.array(flat or [batch, channels], np.int64), "flat_shape"),
             numpy_helper.from_array((0.3 * rng.standard_normal((classes, channels))).astype(np.float32), "fc_w"),
             numpy_helper.from_array((0.1 * rng.standard_normal(classes)).astype(np.float32), "fc_b")]
    nodes = [helper.make_node("Conv", ["data", "conv_w", "conv_b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["p"]),
             helper.make_node("Reshape", ["p", "flat_shape"], ["f"]),
             helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["g"], transB=1),
             helper.make_node("Softmax", ["g"], ["gpu_0/softmax_1"])]
    inputs = [helper.make_tensor_value_info("data", TensorProto.FLOAT, [batch, 3, 8, 8])] + \
        [helper.make_tensor_value_info(i.name, i.data_type, list(i.dims)) for i in inits]
    return _model(nodes, "classifier9", inputs,
                  [helper.make_tensor_value_info("gpu_0/softmax_1", TensorProto.FLOAT, [batch, classes])], inits,
                  opset=9, ir=3)


def save(model: onnx.ModelProto, path) -> str:
    onnx.save(model, str(path))
    return str(path)


FAST = {"trials": "1", "duration_s": "0.01", "warmup_ms": "1", "iterations": "3", "isolation": "inline",
        "no_nvml": True, "backends": ["onnxruntime"]}


def run_matrix(tmp_path, **values):
    """configure -> plan -> one inline run session on onnxruntime, as ``trtbench run`` does; returns
    ({id: VariantRecord}, [Exclusion]). Short trials: these tests check behaviour, not speed."""
    from trtbench.config.configure import configure
    from trtbench.run.plan import plan_matrix
    from trtbench.run.session import RunSession, plain_arm

    merged = dict(FAST, results=str(tmp_path / "results"), cache_dir=str(tmp_path / "cache"), **values)
    matrix, settings, results = configure(merged)
    variants, excluded = plan_matrix(matrix, settings)
    session = RunSession([plain_arm(variants, settings)], results, command="test", matrices=[matrix.to_dict()],
                         excluded=[[e.to_dict() for e in excluded]])
    return {r.id: r for r in session.run().records}, excluded
