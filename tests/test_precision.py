import numpy as np
import onnx
import pytest

from trtbench.errors import UserError
from trtbench.matrix.spec import Variant
from trtbench.models.builtin import builtin_model
from trtbench.models.loading import ModelSource
from trtbench.precision.accuracy import compare, compare_output
from trtbench.precision.transform import apply_precision, calibration_batches
from trtbench.runner import run_variant


def _rec(precision, settings, model="resnet"):
    return run_variant(Variant(ModelSource(model), "onnxruntime", 8, precision, "implicit"), settings)


def test_fp16_error_small_but_nonzero_and_int8_larger(fast_settings):
    fp32 = _rec("fp32", fast_settings)["accuracy"]
    fp16 = _rec("fp16", fast_settings)["accuracy"]
    int8 = _rec("int8", fast_settings)["accuracy"]
    assert fp32["rel_l2"] < 1e-6
    assert 1e-6 < fp16["rel_l2"] < 1e-2 and not fp16["inaccurate"]
    assert int8["rel_l2"] > 5 * fp16["rel_l2"] and int8["rel_l2"] < 0.15
    assert 0.9 < fp16["cosine"] <= 1.0 + 1e-9


def test_fp16_io_converts_the_inputs_and_halves_the_bytes(fast_settings):
    m = builtin_model("mlp")
    keep = apply_precision(m, "fp16")
    conv = apply_precision(m, "fp16-io")
    assert keep.model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert conv.model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    assert apply_precision(m, "fp16") is keep  # cached by content hash
    rec = _rec("fp16-io", fast_settings, "mlp")
    assert rec["status"] == "ok" and not rec["accuracy"]["inaccurate"]


def test_int8_and_fp8_are_qdq_models():
    m = builtin_model("mlp")
    for p in ("int8", "fp8"):
        q = apply_precision(m, p).model
        ops = {n.op_type for n in q.graph.node}
        assert {"QuantizeLinear", "DequantizeLinear"} <= ops


def test_a_broken_model_is_flagged_inaccurate():
    ref = {"logits": np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]], np.float32)}
    bad = {"logits": ref["logits"][::-1].copy()}
    acc = compare(bad, ref, "fp16")
    assert acc["inaccurate"] and acc["top1"] == 0.0
    assert not compare({"logits": ref["logits"] * 1.0001}, ref, "fp16")["inaccurate"]
    nan = compare({"logits": ref["logits"] * np.nan}, ref, "fp32")
    assert nan["inaccurate"]
    with pytest.raises(ValueError, match="not numeric"):
        compare_output(np.array(["a", "b"]), np.array([1.0, 2.0]))


def test_calibration_file_errors(tmp_path):
    m = builtin_model("mlp")
    good = tmp_path / "good.npz"
    np.savez(good, features=np.zeros((4, 256), np.float32))
    assert len(calibration_batches(m, str(good), 0)) == 4
    wrong_dtype = tmp_path / "dtype.npz"
    np.savez(wrong_dtype, features=np.zeros((4, 256), np.float64))
    with pytest.raises(UserError, match="float64"):
        calibration_batches(m, str(wrong_dtype), 0)
    wrong_shape = tmp_path / "shape.npz"
    np.savez(wrong_shape, features=np.zeros((4, 255), np.float32))
    with pytest.raises(UserError, match="shape"):
        calibration_batches(m, str(wrong_shape), 0)
    missing = tmp_path / "missing.npz"
    np.savez(missing, other=np.zeros((4, 256), np.float32))
    with pytest.raises(UserError, match="no array for input 'features'"):
        calibration_batches(m, str(missing), 0)


def test_bf16_on_onnxruntime_is_excluded_and_old_static_models_work(tmp_path, fast_settings):
    from tests.helpers import old_model
    from trtbench.matrix.expand import expand
    from trtbench.matrix.spec import Matrix

    _, excluded = expand(Matrix((ModelSource("mlp"),), ("onnxruntime",), (1,), ("bf16",), ("implicit",)))
    assert "cannot run precision bf16" in excluded[0].reason
    p = tmp_path / "old.onnx"
    onnx.save(old_model(), p)
    rec = run_variant(Variant(ModelSource("old", str(p)), "onnxruntime", 1, "fp16", "implicit"), fast_settings)
    assert rec["status"] == "ok", rec.get("reason")


def test_converted_models_are_cached_on_disk_by_content(tmp_path, fast_settings):
    from dataclasses import replace

    from trtbench.precision import transform

    s = replace(fast_settings, cache_dir=str(tmp_path / "c"))
    m = builtin_model("resnet")
    transform._CACHE.clear()
    first = apply_precision(m, "int8", s)
    files = sorted((tmp_path / "c" / "models").glob("*.onnx"))
    assert len(files) == 1 and "int8" in files[0].name
    transform._CACHE.clear()
    again = apply_precision(m, "int8", s)  # from disk, not re-quantized
    assert again.method == first.method
    assert again.model.SerializeToString() == first.model.SerializeToString()


def test_tolerances_and_calibration_are_options(tmp_path, fast_settings):
    from trtbench.options import configure

    npz = tmp_path / "cal.npz"
    np.savez(npz, features=np.random.default_rng(0).standard_normal((16, 256)).astype(np.float32))
    _, s, _ = configure({"models": ["mlp"], "backends": ["ort"], "tolerances": ["fp16:rel_l2=1e-9"],
                         "calibration": str(npz)})
    assert s.tolerances == {"fp16": {"rel_l2": 1e-9}} and s.calibration == str(npz)
    rec = run_variant(Variant(ModelSource("mlp"), "onnxruntime", 4, "fp16", "implicit"), s)
    assert rec["accuracy"]["tolerance"]["rel_l2"] == 1e-9 and rec["accuracy"]["inaccurate"]
    assert "inaccurate" in rec["quality"]
    rec = run_variant(Variant(ModelSource("mlp"), "onnxruntime", 4, "int8", "implicit"), s)
    assert rec["status"] == "ok" and "user .npz" in rec["backend"]["precision_method"]
    with pytest.raises(UserError, match="keys are rel_l2 and top1"):
        configure({"tolerances": ["fp16:max=1"]})
    with pytest.raises(UserError, match="does not exist"):
        configure({"calibration": str(tmp_path / "nope.npz")})
