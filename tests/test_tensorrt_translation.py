"""Our TensorRT translation logic (version differences, build config, cache), on CPU.

Uses ``RecordingTensorRT``, a named double; the real TensorRT 8.6 run is in results/h100-2026-11-25/."""

import pytest

from tests.trt_double import recording_tensorrt
from trtbench.backends.tensorrt.build import BuildSpec, configure_build
from trtbench.backends.tensorrt.cache import EngineCache, cache_key
from trtbench.backends.tensorrt.compat import TensorRTError, TrtApi, parse_version, unsupported_reason
from trtbench.errors import UserError

V86 = ("FP16", "INT8", "TF32", "REFIT", "VERSION_COMPATIBLE", "FP8")  # 8.6: FP8 exists, BF16 does not
V10 = ("FP16", "BF16", "INT8", "FP8", "TF32", "VERSION_COMPATIBLE")
V11 = ("TF32", "VERSION_COMPATIBLE")  # 11.x: no FP16/BF16/INT8/FP8 builder flags


def api(version, flags, creation=("EXPLICIT_BATCH", "STRONGLY_TYPED")):
    return TrtApi(recording_tensorrt(version, flags, creation), parse_version(version), False)


def _configure(a, spec, inputs=(("input", (-1, 3, 32, 32)),)):
    trt = a.trt
    net, cfg = trt.Network(list(inputs), [("logits", (-1, 10))]), trt.Config()
    applied = configure_build(a, trt.BuilderDouble(), net, cfg, spec, {})
    return applied, trt.calls, net


def test_versions():
    assert parse_version("8.6.0") == (8, 6, 0) and parse_version("11.4.0.106") == (11, 4, 0, 106)
    assert unsupported_reason((8, 6, 1)) is None and unsupported_reason((10, 13)) is None
    assert "not supported" in unsupported_reason((8, 5, 3)) and "not supported" in unsupported_reason((12, 0))


def test_network_flags_per_version():
    a86, a10, a11 = api("8.6.0", V86), api("10.13.0", V10), api("11.4.0", V11, ("STRONGLY_TYPED",))
    eb = 1 << 0
    st = 1 << 1
    assert a86.network_flags("weak") == eb  # 8.6 needs EXPLICIT_BATCH for ONNX
    assert a10.network_flags("weak") == 0 and a10.network_flags("strong") == st
    assert a11.network_flags("strong") == 0  # always strongly typed, no flag


def test_typing_rules():
    a86, a10, a11 = api("8.6.0", V86), api("10.13.0", V10), api("11.4.0", V11)
    assert a86.typing_for("auto") == "weak" and a10.typing_for("auto") == "weak" and a11.typing_for("auto") == "strong"
    with pytest.raises(TensorRTError, match="8.6 has no strongly typed"):
        a86.typing_for("strong")
    with pytest.raises(TensorRTError, match="removed weak typing"):
        a11.typing_for("weak")
    assert a86.precision_support("bf16", "weak") and "BF16" in a86.precision_support("bf16", "weak")
    assert "opset 17" in a86.precision_support("fp8", "weak")
    assert a10.precision_support("bf16", "weak") is None and a10.precision_support("fp8", "weak") is None
    assert a11.precision_support("fp16", "strong") is None and a11.precision_support("int8", "strong") is None
    assert a11.precision_support("bf16", "strong") is None  # the model is converted (ModelOpt AutoCast)


def test_weak_fp16_explicit_build_config():
    spec = BuildSpec("fp16", "weak", static=False, profile=(("input", (1, 3, 32, 32), (8, 3, 32, 32), (32, 3, 32, 32)),),
                     workspace_bytes=1 << 30, optimization_level=4, tf32=False)
    applied, calls, _ = _configure(api("8.6.0", V86), spec)
    assert ("set_flag", "FP16") in calls and ("clear_flag", "TF32") in calls
    assert ("set_memory_pool_limit", "WORKSPACE", 1 << 30) in calls and ("config.builder_optimization_level", 4) in calls
    assert ("profile.set_shape", "input", (1, 3, 32, 32), (8, 3, 32, 32), (32, 3, 32, 32)) in calls
    assert ("add_optimization_profile",) in calls
    mask = next(c[1] for c in calls if c[0] == "set_tactic_sources")
    assert mask == (1 << 3) | (1 << 4)  # TensorRT's own kernels only
    assert applied["builder_flags"] == ["FP16"] and applied["typing"] == "weak"


def test_static_build_has_no_profile_and_io_types_change_for_io_precisions():
    spec = BuildSpec("fp16-io", "weak", static=True, tf32=False)
    applied, calls, net = _configure(api("10.13.0", V10), spec, (("input", (8, 3, 32, 32)),))
    assert not any(c[0] == "add_optimization_profile" for c in calls)
    assert net.get_input(0).dtype == "float16" and net.get_output(0).dtype == "float16"


def test_strong_typing_sets_no_precision_flags_and_tf32_is_a_setting():
    applied, calls, _ = _configure(api("11.4.0", V11), BuildSpec("int8", "strong", static=True, tf32=True))
    assert not any(c[0] == "set_flag" and c[1] in ("FP16", "INT8") for c in calls)
    assert ("set_flag", "TF32") in calls and "builder_flags" not in applied


def test_profile_errors_name_the_problem():
    spec = BuildSpec("fp32", "weak", static=False, profile=(("nope", (1, 3), (1, 3), (1, 3)),))
    with pytest.raises(TensorRTError, match="names input 'nope'"):
        _configure(api("8.6.0", V86), spec)
    spec = BuildSpec("fp32", "weak", static=False, profile=(("input", (1, 3), (1, 3), (1, 3)),))
    with pytest.raises(TensorRTError, match="rank 2"):
        _configure(api("8.6.0", V86), spec)
    with pytest.raises(TensorRTError, match="0..5"):
        _configure(api("8.6.0", V86), BuildSpec("fp32", "weak", static=True, optimization_level=7))


def test_cache_keys_and_untrustworthy_plans(tmp_path):
    spec = BuildSpec("fp16", "weak", static=True)
    k1 = cache_key("m", spec.key(), "8.6.0", "H100", "9.0")
    assert k1 == cache_key("m", spec.key(), "8.6.0", "H100", "9.0")
    others = {cache_key("m2", spec.key(), "8.6.0", "H100", "9.0"),
              cache_key("m", BuildSpec("fp32", "weak", static=True).key(), "8.6.0", "H100", "9.0"),
              cache_key("m", spec.key(), "10.13.0", "H100", "9.0"), cache_key("m", spec.key(), "8.6.0", "A100", "8.0")}
    assert k1 not in others and len(others) == 4
    c = EngineCache(str(tmp_path))
    assert c.get(k1) is None and c.last_miss == "not cached"
    c.put(k1, b"PLAN" * 100, {"spec": spec.key()})
    assert c.get(k1) == b"PLAN" * 100
    plan, meta = c.paths(k1)
    plan.write_bytes(b"PLAN" * 50)
    assert c.get(k1) is None and "truncated" in c.last_miss
    plan.write_bytes(b"PLAX" * 100)
    assert c.get(k1) is None and "corrupt" in c.last_miss
    meta.write_text('{"key": "other"}')
    assert c.get(k1) is None and "another key" in c.last_miss


def test_parser_limits_lower_the_ir_and_refuse_new_opsets():
    from trtbench.backends.tensorrt.build import fit_for_parser
    from trtbench.models.builtin import builtin_model

    m = builtin_model("mlp")
    m.ir_version = 10
    assert fit_for_parser(m, api("8.6.0", V86)).ir_version == 8
    m.opset_import[0].version = 19
    with pytest.raises(TensorRTError, match="opset 17 at most"):
        fit_for_parser(m, api("8.6.0", V86))


def test_plan_variant_shapes_from_the_engine_profile():
    from trtbench.backends.tensorrt.engine_file import plan_variant
    from trtbench.errors import UserError

    io = [("input", True, "float", (-1, 3, 32, 32)), ("logits", False, "float", (-1, 10))]
    profiles = {"input": ((1, 3, 32, 32), (8, 3, 32, 32), (16, 3, 32, 32))}
    v = plan_variant("/x/resnet.plan", io, profiles, {}, 4)
    assert v.id == "resnet-tensorrt-engine-explicit-engine-b4" and v.batch == 4
    assert v.model.plan and v.model.path == "/x/resnet.plan"
    (r,) = v.profile.inputs  # the engine's min and max, the run shape as opt
    assert (r.name, r.min, r.opt, r.max) == ("input", (1, 3, 32, 32), (4, 3, 32, 32), (16, 3, 32, 32))
    v = plan_variant("/x/resnet.plan", io, profiles, {}, None)
    assert v.profile.inputs[0].opt == (8, 3, 32, 32) and v.batch == 8  # the profile's opt shapes
    v = plan_variant("/x/resnet.plan", io, profiles, {"input": (2, 3, 32, 32)}, None)
    assert v.profile.inputs[0].opt == (2, 3, 32, 32) and v.id.endswith("-b2")
    with pytest.raises(UserError, match="outside the engine's profile"):
        plan_variant("/x/resnet.plan", io, profiles, {}, 64)
    with pytest.raises(UserError, match="--shapes names nope"):
        plan_variant("/x/resnet.plan", io, profiles, {"nope": (1, 2)}, None)
    static = [("input", True, "float", (2, 3, 32, 32)), ("logits", False, "float", (2, 10))]
    v = plan_variant("/x/s.plan", static, {"input": None}, {}, None)
    assert v.build_mode == "implicit" and v.profile.inputs[0].opt == (2, 3, 32, 32) and v.batch == 2
    with pytest.raises(UserError, match="static engine's batch is 2"):
        plan_variant("/x/s.plan", static, {"input": None}, {}, 4)


def test_two_plans_with_one_file_name_get_two_variant_ids(tmp_path, monkeypatch):
    """run --engine a/model.plan --engine b/model.plan: two engines, two ids (as for ONNX models), so
    neither record overwrites the other. TensorRT is replaced by a stand-in that describes any plan."""
    from trtbench.backends.tensorrt import engine_file

    io = [("input", True, "float", (-1, 3, 32, 32)), ("logits", False, "float", (-1, 10))]
    profiles = {"input": ((1, 3, 32, 32), (8, 3, 32, 32), (16, 3, 32, 32))}
    monkeypatch.setattr(engine_file, "trt_for_command", lambda flag, device: "api (double)")
    monkeypatch.setattr(engine_file, "make_logger", lambda api, verbose=False: None)
    monkeypatch.setattr(engine_file, "describe_plan", lambda api, plan, logger, device: (io, profiles))
    paths = []
    for folder, data in (("a", b"plan one" * 10), ("b", b"plan two" * 10), ("c", b"plan one" * 10)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "model.plan").write_bytes(data)
        paths.append(str(tmp_path / folder / "model.plan"))
    assert [v.id for v in engine_file.plan_variants(paths[:1], [4], {}, 0)] == \
        ["model-tensorrt-engine-explicit-engine-b4"]
    two = engine_file.plan_variants(paths[:2], [1, 4], {}, 0)
    assert len({v.id for v in two}) == 4 and all(v.model.plan for v in two)
    assert [v.model.path for v in two] == [paths[0], paths[0], paths[1], paths[1]]
    assert [v.id for v in engine_file.plan_variants([paths[0], paths[2]], [4], {}, 0)] == [two[1].id]  # same bytes
    with pytest.raises(UserError, match="does not exist"):
        engine_file.plan_variants([paths[0], str(tmp_path / "nope" / "model.plan")], [4], {}, 0)


def test_which_precisions_need_a_converted_model():
    need = TrtApi.needs_converted_model
    assert need("int8", "weak") and need("fp8", "weak") and need("fp16", "strong") and need("bf16-io", "strong")
    assert not need("fp16", "weak") and not need("fp32", "strong") and not need("tf32", "strong")


def test_strong_bf16_gets_the_modelopt_model_within_the_parser_limits():
    """Strongly typed bf16 (TensorRT 10/11) parses ModelOpt's bf16 model: opset 22 is within the 10/11
    parser's limits and the I/O types are bf16 for bf16-io; TensorRT 8.6's parser (opset 17) refuses it."""
    pytest.importorskip("modelopt.onnx.autocast", reason="NVIDIA ModelOpt (the bf16 extra) is not installed")
    import onnx

    from trtbench.backends.tensorrt.build import fit_for_parser
    from trtbench.models.builtin import builtin_model
    from trtbench.precision.transform import apply_precision

    a11 = api("11.4.0", V11, ("STRONGLY_TYPED",))
    converted = apply_precision(builtin_model("resnet"), "bf16-io").model
    assert a11.needs_converted_model("bf16-io", a11.typing_for("auto"))
    parsed = fit_for_parser(converted, a11)
    assert parsed.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.BFLOAT16
    with pytest.raises(TensorRTError, match="opset 22"):
        fit_for_parser(converted, api("8.6.0", V86))
