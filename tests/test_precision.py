import numpy as np
import onnx
import pytest

from trtbench.errors import UserError
from trtbench.matrix.spec import Variant
from trtbench.models.builtin import builtin_model
from trtbench.models.loading import ModelSource
from trtbench.precision.accuracy import compare, compare_output
from trtbench.precision.transform import apply_precision, calibration_batches
from tests.helpers import measure_variant


def _rec(precision, settings, tmp_path, model="resnet"):
    from dataclasses import replace

    return measure_variant(Variant(ModelSource(model), "onnxruntime", 8, precision, "implicit"),
                           replace(settings, trials=1), tmp_path / precision)


def test_fp16_error_small_but_nonzero_and_int8_larger(fast_settings, tmp_path):
    fp32 = _rec("fp32", fast_settings, tmp_path).accuracy
    fp16 = _rec("fp16", fast_settings, tmp_path).accuracy
    int8 = _rec("int8", fast_settings, tmp_path).accuracy
    assert fp32["rel_l2"] < 1e-6
    assert 1e-6 < fp16["rel_l2"] < 1e-2 and not fp16["inaccurate"]
    assert int8["rel_l2"] > 5 * fp16["rel_l2"] and int8["rel_l2"] < 0.15
    assert 0.9 < fp16["cosine"] <= 1.0 + 1e-9


def test_fp16_io_converts_the_inputs_and_halves_the_bytes(fast_settings, tmp_path):
    m = builtin_model("mlp")
    keep = apply_precision(m, "fp16")
    conv = apply_precision(m, "fp16-io")
    assert keep.model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert conv.model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    assert apply_precision(m, "fp16") is keep  # cached by content hash
    rec = _rec("fp16-io", fast_settings, tmp_path, "mlp")
    assert rec.ok and not rec.accuracy["inaccurate"]


@pytest.mark.parametrize("precision", ["int8", "fp8"])
def test_int8_and_fp8_are_qdq_models(precision):
    import importlib.util

    import onnxruntime as ort

    from trtbench.errors import NotApplicable

    old_ort = tuple(int(x) for x in ort.__version__.split(".")[:2]) < (1, 20)
    if precision == "fp8" and old_ort and importlib.util.find_spec("onnx.reference.custom_element_types") is None:
        # onnxruntime < 1.20 quantizes float8 through an onnx module newer onnx releases removed: the
        # conversion is refused for this variant, with the reason
        with pytest.raises(NotApplicable, match="custom_element_types"):
            apply_precision(builtin_model("mlp"), precision)
        return
    q = apply_precision(builtin_model("mlp"), precision).model
    ops = {n.op_type for n in q.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops


def test_a_broken_model_is_flagged_inaccurate():
    ref = {"logits": np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]], np.float32)}
    bad = {"logits": ref["logits"][::-1].copy()}
    acc = compare(bad, ref, "fp16")
    assert acc["inaccurate"] and acc["top1"] == 0.0
    assert not compare({"logits": ref["logits"] * 1.0001}, ref, "fp16")["inaccurate"]
    nan = compare({"logits": ref["logits"] * np.nan}, ref, "fp32")
    assert nan["inaccurate"] and nan["rel_l2"] == np.inf and nan["nonfinite"] == 6  # the count, at the top
    assert nan["top1"] == 0.0  # NaN rows never agree (argmax of a NaN row is the NaN's index)
    half = ref["logits"].copy()
    half[1, 0] = np.inf
    part = compare({"logits": half}, ref, "fp16")
    assert part["nonfinite"] == 1 and part["top1"] == 0.5 and part["inaccurate"]
    assert "nonfinite" not in compare({"logits": ref["logits"]}, ref, "fp32")
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


def test_old_static_models_convert(tmp_path, fast_settings):
    from tests.helpers import old_model

    p = tmp_path / "old.onnx"
    onnx.save(old_model(), p)
    rec = measure_variant(Variant(ModelSource("old", str(p)), "onnxruntime", 1, "fp16", "implicit"), fast_settings,
                          tmp_path / "res")
    assert rec.ok, rec.reason
    if _modelopt_reason() is None:  # IR 3, opset 9, initializers listed as inputs: AutoCast gets IR 8
        from onnx.reference import ReferenceEvaluator

        old = old_model()
        bf16 = apply_precision(old, "bf16").model
        assert [i.name for i in bf16.graph.input] == ["data"]
        x = np.random.default_rng(0).standard_normal(
            [d.dim_value for d in old.graph.input[0].type.tensor_type.shape.dim]).astype(np.float32)
        ref, got = ReferenceEvaluator(old).run(None, {"data": x})[0], ReferenceEvaluator(bf16).run(None, {"data": x})[0]
        assert 1e-4 < np.linalg.norm(got - ref) / np.linalg.norm(ref) < 5e-2


def test_modelopt_logs_are_kept_off_the_console_and_their_errors_kept(capsys):
    import logging

    from trtbench.precision.transform import _quiet_modelopt

    lg = logging.getLogger("modelopt.onnx")
    before = (list(lg.handlers), lg.propagate, lg.level)
    with _quiet_modelopt() as log:
        lg.info("converting node 1 of 9")
        lg.error("Internal error: onnx.checker failed on input model")
    assert log.errors == ["onnx.checker failed on input model"]
    assert (list(lg.handlers), lg.propagate, lg.level) == before
    out = capsys.readouterr()
    assert "converting node" not in out.out + out.err and "checker" not in out.out + out.err


def _modelopt_reason():
    try:
        import modelopt.onnx.autocast  # noqa: F401
    except Exception as exc:
        return f"NVIDIA ModelOpt (the bf16 extra) is not importable: {exc}"
    return None


needs_modelopt = pytest.mark.skipif(_modelopt_reason() is not None, reason=str(_modelopt_reason()))


@needs_modelopt
@pytest.mark.parametrize("name", ["mlp", "resnet", "transformer"])
def test_bf16_models_from_modelopt_are_accurate_to_bf16(name):
    """The converted models really compute in bf16: onnx's reference evaluator (numpy over ml_dtypes'
    bfloat16) runs them, and their error against fp32 is bf16-sized: above fp16's, within tolerance."""
    from onnx.reference import ReferenceEvaluator

    from trtbench.models.inputs import make_inputs
    from trtbench.models.inspect import inspect_model

    m = builtin_model(name)
    keep, conv = apply_precision(m, "bf16"), apply_precision(m, "bf16-io")
    assert apply_precision(m, "bf16") is keep  # cached by content hash
    bf16, f32 = onnx.TensorProto.BFLOAT16, onnx.TensorProto.FLOAT
    floats_in = [i for i in m.graph.input if i.type.tensor_type.elem_type == f32]
    assert all(i.type.tensor_type.elem_type == f32 for i in keep.model.graph.input if i in floats_in)
    assert all(o.type.tensor_type.elem_type == f32 for o in keep.model.graph.output)
    assert all(o.type.tensor_type.elem_type == bf16 for o in conv.model.graph.output)
    assert {i.name for i in conv.model.graph.input if i.type.tensor_type.elem_type == bf16} == \
        {i.name for i in floats_in}
    assert any(t.data_type == bf16 for t in keep.model.graph.initializer)
    assert "ModelOpt AutoCast bf16" in keep.method and "opset 22" in keep.method
    info = inspect_model(m)
    feeds = make_inputs({t.name: t.dtype for t in info.inputs},
                        {t.name: [d if isinstance(d, int) else 8 for d in t.shape] for t in info.inputs}, seed=1)
    ref = dict(zip([o.name for o in m.graph.output], ReferenceEvaluator(m).run(None, feeds)))
    got = dict(zip([o.name for o in m.graph.output], ReferenceEvaluator(keep.model).run(None, feeds)))
    import onnxruntime as ort

    half = ort.InferenceSession(apply_precision(m, "fp16").model.SerializeToString(), providers=["CPUExecutionProvider"])
    got16 = dict(zip([o.name for o in m.graph.output], half.run(None, feeds)))
    acc, acc16 = compare(got, ref, "bf16"), compare(got16, ref, "fp16")
    assert 1e-3 < acc["rel_l2"] < 5e-2 and acc["cosine"] > 0.999, acc
    assert acc["rel_l2"] > 2 * acc16["rel_l2"]  # 8 mantissa bits against fp16's 11


def test_bf16_resnet_on_onnxruntime_is_a_skip_with_the_reason(fast_settings, tmp_path):
    """onnxruntime has no bf16 Conv kernel on the CPU provider and no bf16 BatchNormalization on the CUDA
    provider: the variant is planned, converted and then skipped naming the operator (or, without
    ModelOpt, saying how to install it)."""
    import onnxruntime as ort

    on_gpu = "CUDAExecutionProvider" in ort.get_available_providers()
    rec = measure_variant(Variant(ModelSource("resnet"), "onnxruntime", 1, "bf16", "implicit"), fast_settings,
                          tmp_path)
    assert rec.status == "skipped" and not rec.trials
    if _modelopt_reason() is None:
        where = "CUDA" if on_gpu else "CPU"
        assert f"onnxruntime's {where} provider cannot run this bf16 model" in rec.reason
        assert ("BatchNormalization" if on_gpu else "Conv") in rec.reason
    else:
        assert "trtbench[bf16]" in rec.reason


def _cast_model(io_type):
    """x (io_type) -> float -> 2x -> io_type: a model onnxruntime's CPU provider runs with bf16 I/O."""
    from onnx import TensorProto as T, helper

    g = helper.make_graph(
        [helper.make_node("Cast", ["x"], ["xf"], to=T.FLOAT),
         helper.make_node("Mul", ["xf", "two"], ["yf"]),
         helper.make_node("Cast", ["yf"], ["y"], to=io_type)], "cast",
        [helper.make_tensor_value_info("x", io_type, ["n", 16])], [helper.make_tensor_value_info("y", io_type, ["n", 16])],
        [helper.make_tensor("two", T.FLOAT, [], [2.0])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def test_onnxruntime_binds_bf16_io_by_pointer(tmp_path, fast_settings, monkeypatch):
    """The onnxruntime backend's bf16 I/O path (bits in uint16 buffers, bound with the ONNX element type),
    on the real CPU provider. The precision transform is replaced by a stand-in bf16-io model (a double:
    it tests our binding, not a converter) that the CPU provider can run."""
    from onnx import TensorProto as T

    from trtbench.precision import transform

    fp32 = tmp_path / "double.onnx"
    onnx.save(_cast_model(T.FLOAT), fp32)
    stand_in = transform.ConvertedModel(_cast_model(T.BFLOAT16), "stand-in bf16-io model (test double)")
    from trtbench.backends import onnxruntime_backend

    monkeypatch.setattr(onnxruntime_backend, "apply_precision", lambda model, precision, settings=None,
                        calibration=None: stand_in if precision == "bf16-io" else transform.ConvertedModel(model, "fp32"))
    rec = measure_variant(Variant(ModelSource("double", str(fp32)), "onnxruntime", 4, "bf16-io", "implicit"),
                          fast_settings, tmp_path / "res")  # inline: the worker would not see the monkeypatch
    import onnxruntime as ort

    if tuple(int(x) for x in ort.__version__.split(".")[:2]) < (1, 20):  # no integer element types before 1.20
        assert rec.status == "skipped" and "cannot bind bfloat16 tensors" in rec.reason
        return
    assert rec.ok, rec.reason or rec.error
    acc = rec.accuracy
    assert 0 < acc["rel_l2"] < 4e-3 and acc["max_abs"] > 0, acc  # inputs and outputs rounded to bf16


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
    from dataclasses import replace

    from trtbench.config.configure import configure

    npz = tmp_path / "cal.npz"
    np.savez(npz, features=np.random.default_rng(0).standard_normal((16, 256)).astype(np.float32))
    _, s, _ = configure({"models": ["mlp"], "backends": ["ort"], "tolerances": ["fp16:rel_l2=1e-9"],
                         "calibration": str(npz)})
    assert s.tolerances == {"fp16": {"rel_l2": 1e-9}} and s.calibration == str(npz)
    s = replace(s, trials=1, duration_s=0.02, warmup_ms=2, isolation="inline", cache_dir=fast_settings.cache_dir)
    rec = measure_variant(Variant(ModelSource("mlp"), "onnxruntime", 4, "fp16", "implicit"), s, tmp_path / "a")
    assert rec.accuracy["tolerance"]["rel_l2"] == 1e-9 and rec.accuracy["inaccurate"]
    assert "inaccurate" in rec.quality
    rec = measure_variant(Variant(ModelSource("mlp"), "onnxruntime", 4, "int8", "implicit"), s, tmp_path / "b")
    assert rec.ok and "user .npz" in rec.backend["precision_method"]
    with pytest.raises(UserError, match="keys are rel_l2 and top1"):
        configure({"tolerances": ["fp16:max=1"]})
    with pytest.raises(UserError, match="does not exist"):
        configure({"calibration": str(tmp_path / "nope.npz")})
