import numpy as np
import onnx
import onnxruntime as ort
import pytest

from tests.helpers import old_model, pinned_model, static_model
from trtbench.errors import NotApplicable, UserError
from trtbench.models.builtin import builtin_model, builtin_names
from trtbench.models.inspect import inspect_model
from trtbench.models.loading import load_onnx, model_digest, resolve_model
from trtbench.models.shapes import find_batch_pins, make_dynamic, make_static


@pytest.mark.parametrize("name", [n for n in builtin_names() if n != "encoder"])  # encoder: tests/test_encoder.py
def test_builtin_models_are_dynamic_deterministic_and_readable(name):
    m = builtin_model(name)
    assert m.ir_version == 8 and m.opset_import[0].version == 17
    info = inspect_model(m)
    assert all(t.shape[0] == "batch" and t.dynamic_axes == (0,) for t in info.inputs)
    assert info.parameter_count > 50_000 and info.node_count >= 9
    assert model_digest(m) == model_digest(builtin_model(name))  # deterministic weights
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    t = info.inputs[0]
    x = np.random.default_rng(0).standard_normal((3,) + t.shape[1:]).astype(np.float32)
    (y,) = sess.run(None, {t.name: x})
    assert y.shape[0] == 3 and np.all(np.isfinite(y))


def test_builtin_architectures_have_their_operators():
    ops = {n: {node.op_type for node in builtin_model(n).graph.node} for n in builtin_names()}
    assert {"Conv", "BatchNormalization", "Add", "GlobalAveragePool", "Gemm"} <= ops["resnet"]
    assert {"MatMul", "Relu"} <= ops["mlp"]
    assert {"Softmax", "Erf", "ReduceMean", "Sqrt", "Transpose"} <= ops["transformer"]  # attention, LN, GELU


def test_inspect_old_and_static_models():
    info = inspect_model(old_model())
    assert [t.name for t in info.inputs] == ["data"]  # the initializer listed as input is not an input
    assert info.ir_version == 3 and info.opset == 9 and info.inputs[0].is_static
    assert info.parameter_count == 12
    d = info.to_dict()
    assert d["inputs"][0]["shape"] == [1, 4] and d["inputs"][0]["dynamic_axes"] == []


def test_make_static_and_dynamic_roundtrip():
    m = builtin_model("mlp")
    s = make_static(m, {"features": (4, 256)})
    assert inspect_model(s).inputs[0].shape == (4, 256) and inspect_model(s).outputs[0].shape == (4, 10)
    d = make_dynamic(s)
    assert inspect_model(d).inputs[0].shape == ("batch", 256)
    sess = ort.InferenceSession(d.SerializeToString(), providers=["CPUExecutionProvider"])
    assert sess.run(None, {"features": np.zeros((7, 256), np.float32)})[0].shape == (7, 10)


def test_static_model_made_dynamic_runs_at_other_batches():
    d = make_dynamic(static_model(2))
    sess = ort.InferenceSession(d.SerializeToString(), providers=["CPUExecutionProvider"])
    assert sess.run(None, {"x": np.ones((5, 2, 3), np.float32)})[0].shape == (5, 6)


def test_pinned_batch_is_not_applicable_with_the_reason():
    m = pinned_model(4)
    assert find_batch_pins(m, 4) and "flatten" in find_batch_pins(m, 4)[0]
    with pytest.raises(NotApplicable, match="pinned at 4"):
        make_dynamic(m)


def test_shape_inference_catches_pins_the_constant_scan_misses():
    # the pin hides behind a Concat of constants: only shape inference at another batch sees it
    from onnx import TensorProto, helper, numpy_helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 6])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 6])
    inits = [numpy_helper.from_array(np.array([4], np.int64), "b"), numpy_helper.from_array(np.array([6], np.int64), "c")]
    nodes = [helper.make_node("Concat", ["b", "c"], ["shape"], axis=0), helper.make_node("Reshape", ["x", "shape"], ["y"])]
    m = helper.make_model(helper.make_graph(nodes, "hidden", [x], [y], initializer=inits),
                          opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    with pytest.raises(NotApplicable, match="pinned at 4.*onnxruntime fails"):
        make_dynamic(m)


def test_load_errors_are_one_line_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_onnx(str(tmp_path / "missing.onnx"))
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(UserError, match="empty"):
        load_onnx(str(empty))
    good = builtin_model("mlp").SerializeToString()
    trunc = tmp_path / "trunc.onnx"
    trunc.write_bytes(good[: len(good) // 3])
    with pytest.raises(UserError, match="truncated|not a valid|not an ONNX"):
        load_onnx(str(trunc))
    text = tmp_path / "notes.onnx"
    text.write_text("hello, this is not a model\n" * 10)
    with pytest.raises(UserError):
        load_onnx(str(text))
    for exc in (UserError,):
        with pytest.raises(exc, match="unknown model 'resnet50'.*built-in"):
            resolve_model("resnet50")


def test_resolve_model_path(tmp_path):
    p = tmp_path / "My Model.onnx"
    onnx.save(old_model(), p)
    src = resolve_model(str(p))
    assert src.name == "My_Model" and not src.builtin and inspect_model(src.load()).opset == 9
