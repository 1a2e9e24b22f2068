"""--fix-batch (requirement 5) and int8 on old exports (requirement 6), on opset-9 / IR-3 models like the model
zoo's: a Reshape to the constant [1, C] pins the batch, and the Softmax output broke onnxruntime 1.16-1.19's
quantizer. Equivalence is checked against onnxruntime on the original model, sample by sample."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.shape_models import classifier9, run_matrix, save
from trtbench.errors import NotApplicable
from trtbench.models.fixbatch import fix_batch_pins
from trtbench.models.inspect import inspect_model
from trtbench.models.shapes import make_dynamic
from trtbench.precision.accuracy import compare
from trtbench.precision.transform import apply_precision


def _run(model, feeds):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)[0]


def test_the_rewrite_is_equivalent_at_the_exported_batch_and_per_sample_beyond():
    original = classifier9(batch=1)
    fixed, notes = fix_batch_pins(original)
    assert len(notes) == 1 and "Reshape 'f' target [1, 8] -> [0, 8]" in notes[0]
    x = np.random.default_rng(1).standard_normal((5, 3, 8, 8)).astype(np.float32)
    assert np.array_equal(_run(fixed, {"data": x[:1]}), _run(original, {"data": x[:1]}))  # bit for bit at batch 1
    dynamic = make_dynamic(fixed)
    assert inspect_model(dynamic).inputs[0].shape == ("batch", 3, 8, 8)
    many = _run(dynamic, {"data": x})
    one_by_one = np.concatenate([_run(original, {"data": x[i:i + 1]}) for i in range(5)])
    assert many.shape == (5, 5)
    np.testing.assert_allclose(many, one_by_one, rtol=1e-5, atol=1e-6)
    assert [t.name for t in fixed.graph.initializer] == [t.name for t in original.graph.initializer]  # in place


def test_without_the_flag_the_pin_is_reported_with_the_flag_to_try():
    with pytest.raises(NotApplicable, match=r"pinned at 1 .*Reshape node 'f'.*--fix-batch"):
        make_dynamic(classifier9(batch=1))


def test_the_matrix_runs_the_batch_sweep_only_with_the_flag_and_says_so(tmp_path):
    path = save(classifier9(batch=1), tmp_path / "zoo.onnx")
    plain, _ = run_matrix(tmp_path, models=[path], batches=["1,4"])
    assert {k: r.status for k, r in plain.items()} == {
        "zoo-onnxruntime-fp32-implicit-b1": "ok", "zoo-onnxruntime-fp32-implicit-b4": "skipped",
        "zoo-onnxruntime-fp32-explicit-auto-b1": "skipped", "zoo-onnxruntime-fp32-explicit-auto-b4": "skipped"}
    assert "--fix-batch" in plain["zoo-onnxruntime-fp32-implicit-b4"].reason
    fixed, _ = run_matrix(tmp_path, models=[path], batches=["1,4"], fix_batch=True)
    assert all(r.status == "ok" for r in fixed.values()), {k: r.reason for k, r in fixed.items()}
    assert "model_rewrites" not in fixed["zoo-onnxruntime-fp32-implicit-b1"].backend  # not needed: not made
    for key in ("zoo-onnxruntime-fp32-implicit-b4", "zoo-onnxruntime-fp32-explicit-auto-b1"):
        assert fixed[key].backend["model_rewrites"] == fix_batch_pins(classifier9(batch=1))[1]
    assert fixed["zoo-onnxruntime-fp32-explicit-auto-b4"].shapes["run"] == {"data": [4, 3, 8, 8]}


def _reshape_model(perm=None, allowzero=None, target=(1, 12)):
    """x [1, 3, 4] (-> Transpose perm) -> Reshape to a constant: opset 14 for allowzero."""
    nodes, src = [], "x"
    if perm:
        nodes.append(helper.make_node("Transpose", ["x"], ["t"], perm=perm))
        src = "t"
    kw = {"allowzero": allowzero} if allowzero is not None else {}
    nodes.append(helper.make_node("Reshape", [src, "shape"], ["y"], name="r", **kw))
    shape = numpy_helper.from_array(np.array(target, np.int64), "shape")
    g = helper.make_graph(nodes, "r", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(target))], initializer=[shape])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])
    m.ir_version = 8
    return m


def test_allowzero_takes_minus_one_and_unprovable_pins_are_left_with_the_reason():
    fixed, notes = fix_batch_pins(_reshape_model(allowzero=1))
    assert "target [1, 12] -> [-1, 12]" in notes[0]
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    assert _run(make_dynamic(fixed), {"x": x}).shape == (2, 12)
    _, notes = fix_batch_pins(_reshape_model(allowzero=1, target=(1, -1)))
    assert notes == ["--fix-batch: Reshape 'r' left as it is (allowzero=1 takes 0 literally and the target already "
                     "has its one -1)"]
    moved, notes = fix_batch_pins(_reshape_model(perm=[1, 0, 2], target=(1, 12)))  # the batch is axis 1 there
    assert notes == ["--fix-batch: Reshape 'r' left as it is (its data input's first dim is 3, not provably the batch)"]
    with pytest.raises(NotApplicable, match="pinned at 1"):
        make_dynamic(moved)


def test_a_shared_target_constant_is_copied_not_changed_for_the_other_reader():
    m = classifier9(batch=1)
    m.graph.node.append(helper.make_node("Identity", ["flat_shape"], ["shape_copy"]))
    m.graph.output.append(helper.make_tensor_value_info("shape_copy", TensorProto.INT64, [2]))
    fixed, notes = fix_batch_pins(m)
    assert len(notes) == 1
    x = np.random.default_rng(2).standard_normal((1, 3, 8, 8)).astype(np.float32)
    outs = ort.InferenceSession(fixed.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"data": x})
    assert outs[1].tolist() == [1, 8]  # the other reader still sees the original constant
    onnx.checker.check_model(fixed)  # IR 3: the new initializer is listed among the inputs too


# --- int8 on an opset-9, IR-3 model with a Softmax output ---------------------------------------------------

def test_int8_quantizes_an_opset9_model_with_a_softmax_output():
    m = classifier9(batch=1)
    q = apply_precision(m, "int8")
    assert "opset 9 -> 13" in q.method and "quant_pre_process" in q.method
    ops = [n.op_type for n in q.model.graph.node]
    assert ops.count("QuantizeLinear") >= 3 and ops[-1] == "Softmax"  # Softmax calibrated, not quantized
    assert not any(n.op_type == "QuantizeLinear" and n.input[0] == "gpu_0/softmax_1" for n in q.model.graph.node)
    x = np.random.default_rng(3).standard_normal((1, 3, 8, 8)).astype(np.float32)
    acc = compare({"gpu_0/softmax_1": _run(q.model, {"data": x})}, {"gpu_0/softmax_1": _run(m, {"data": x})}, "int8")
    assert not acc["inaccurate"], acc


def test_int8_runs_in_the_matrix_on_the_old_model(tmp_path):
    path = save(classifier9(batch=1), tmp_path / "zoo.onnx")
    recs, _ = run_matrix(tmp_path, models=[path], batches=["1"], precisions=["int8"], build_modes=["implicit"])
    (r,) = recs.values()
    assert r.status == "ok" and "opset 9 -> 13" in r.backend["precision_method"]
    assert not r.accuracy["inaccurate"]


def test_quantizing_leaves_nothing_in_the_working_directory(tmp_path, monkeypatch):
    """onnxruntime's symbolic shape inference fails on the encoder (a Slice to a run-time length) and then saves
    sym_shape_infer_temp.onnx and its data files where it runs: that must be trtbench's temporary folder."""
    from trtbench.models.builtin import builtin_model
    from trtbench.precision.transform import _quantize

    monkeypatch.chdir(tmp_path)
    q = _quantize(builtin_model("encoder"), "int8", None, seed=0)
    assert "symbolic shape inference failed" in q.method  # the case that writes the files
    assert list(tmp_path.iterdir()) == []
