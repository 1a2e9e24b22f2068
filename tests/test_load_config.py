"""The load axes at the config boundary (CLI, pytest plugin, matrix file), in variant ids and records, and the
TensorRT side of queries in flight (profile sharing at build, one context per slot), the latter on named doubles."""

from __future__ import annotations

import enum
import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from tests.trt_double import recording_tensorrt
from trtbench.backends.host_buffers import HostBuffers
from trtbench.backends.tensorrt.backend import EngineIO, engine_slot
from trtbench.backends.tensorrt.build import BuildSpec, configure_build
from trtbench.backends.tensorrt.compat import TensorRTError, TrtApi, parse_version
from trtbench.cli.main import build_parser
from trtbench.config.configure import configure
from trtbench.config.load import parse_latency_budget
from trtbench.config.options import ALL_OPTIONS, add_pytest_options
from trtbench.errors import UserError
from trtbench.matrix.expand import expand
from trtbench.matrix.spec import Matrix, ShapeProfile, Variant
from trtbench.models.loading import ModelSource

ROOT = Path(__file__).resolve().parents[1]
pytest_plugins = ["pytester"]


def _values(args):
    return vars(build_parser().parse_args(["run", *args]))


def _plugin_values(args):
    from _pytest.config.argparsing import Parser

    parser = Parser(_ispytest=True)
    add_pytest_options(parser.getgroup("trtbench"))
    flag = {o.cli_flag: o.pytest_flag for o in ALL_OPTIONS}
    ns = parser.parse([flag.get(a.split("=")[0], a.split("=")[0]) + a[len(a.split("=")[0]):] for a in args])
    return {o.dest: getattr(ns, "trtbench_" + o.dest) for o in ALL_OPTIONS}


def _error(values) -> str:
    with pytest.raises(UserError) as e:
        configure(values)
    return str(e.value)


# ---- 1. options -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--concurrency", "0"], "bad --concurrency value '0': give an integer from 1 to 256"),
    (["--concurrency", "1,x"], "bad --concurrency value 'x': give an integer from 1 to 256"),
    (["--concurrency", "2.5"], "bad --concurrency value '2.5'"),
    (["--concurrency", ""], "no concurrency given: pass --concurrency 1,2,4,8"),
    (["--request-rate", "-5"], "bad --request-rate value '-5': give a finite number of queries per second > 0"),
    (["--request-rate", "nan"], "bad --request-rate value 'nan'"),
    (["--request-rate", "inf"], "bad --request-rate value 'inf'"),
    (["--request-rate", "0"], "bad --request-rate value '0'"),
    (["--latency-budget", "0ms"], "bad --latency-budget value '0ms': give a p99 latency budget > 0 with a unit"),
    (["--latency-budget=-1ms"], "bad --latency-budget value '-1ms'"),
    (["--request-rate=-5"], "bad --request-rate value '-5'"),
    (["--latency-budget", "10 parsecs"], "bad --latency-budget value '10 parsecs'"),
    (["--latency-budget", "nan"], "bad --latency-budget value 'nan'"),
    (["--latency-budget", "10ms", "--request-rate", "100"], "--latency-budget searches the request rate itself"),
    (["--cold", "--concurrency", "1,2"], "--cold measures one query at a time"),
    (["--cold", "--request-rate", "10"], "--cold measures one query at a time"),
])
def test_bad_load_options_are_one_line_errors_the_same_from_both_front_ends(args, message):
    cli, plugin = _error(_values(args)), _error(_plugin_values(args))
    assert cli == plugin and cli.startswith(message) and "\n" not in cli


def test_good_load_options_are_typed():
    m, s, _ = configure(_values(["--concurrency", "1,2", "--concurrency", "8,2", "--request-rate", "100, 250.5"]))
    assert m.concurrencies == (1, 2, 8) and m.request_rates == (100.0, 250.5) and m.latency_budget_ms is None
    m, _, _ = configure(_values(["--latency-budget", "10ms"]))
    assert m.latency_budget_ms == 10.0 and m.request_rates == (None,) and m.concurrencies == (1,)
    assert [parse_latency_budget(x) for x in ("0.5s", "500us", "2", " 3 ms", 7)] == [500.0, 0.5, 2.0, 3.0, 7.0]
    m, _, _ = configure(_values(["--cold"]))
    assert m.concurrencies == (1,)  # --cold alone is still fine


def test_cli_exits_2_with_one_line_for_a_concurrency_of_zero():
    r = subprocess.run([sys.executable, "-m", "trtbench", "run", "-m", "mlp", "--concurrency", "0"],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 2 and r.stderr.strip() == ("trtbench: error: bad --concurrency value '0': give an "
                                                      "integer from 1 to 256"), r.stderr


# ---- 2. the matrix file --------------------------------------------------------------------------------------

def _toml(tmp_path, body: str):
    p = tmp_path / "m.toml"
    p.write_text("[matrix]\nmodels = [\"mlp\"]\n" + body)
    return configure({"matrix": str(p)})


def test_matrix_file_load_keys(tmp_path):
    m, _, _ = _toml(tmp_path, "concurrencies = [1, 4]\nrequest_rates = [100, 250.5]\n")
    assert m.concurrencies == (1, 4) and m.request_rates == (100.0, 250.5)
    m, _, _ = _toml(tmp_path, "concurrencies = [2]\nlatency_budget = \"5ms\"\n")
    assert m.latency_budget_ms == 5.0 and m.concurrencies == (2,)
    m, _, _ = configure({"matrix": str(tmp_path / "m.toml"), "concurrencies": ["8"]})  # flags override the file
    assert m.concurrencies == (8,) and m.latency_budget_ms == 5.0


@pytest.mark.parametrize("body, message", [
    ("concurrencies = [0]\n", "[matrix] concurrencies item value 0: give an integer from 1 to 256"),
    ("concurrencies = 4\n", "[matrix] concurrencies must be a list"),
    ("request_rates = [\"100\"]\n", "'100': give a finite number of queries per second > 0 and <= 1e+07, without "
                                    "quotes"),
    ("request_rates = [-1.0]\n", "bad [matrix] request_rates item value -1.0"),
    ("latency_budget = true\n", "bad [matrix] latency_budget value true"),
    ("latency_budget = \"5ms\"\nrequest_rates = [10]\n", "--latency-budget searches the request rate itself"),
])
def test_matrix_file_load_keys_are_checked(tmp_path, body, message):
    with pytest.raises(UserError) as e:
        _toml(tmp_path, body)
    assert message in str(e.value) and "\n" not in str(e.value)


# ---- 3. variants ------------------------------------------------------------------------------------------------

def test_variant_ids_and_records_carry_the_load_axes():
    m = Matrix((ModelSource("mlp"),), ("onnxruntime",), (8,), build_modes=("explicit",),
               profiles=(ShapeProfile("dyn", batch=(1, 8, 8)),), concurrencies=(1, 4), request_rates=(None, 200.0))
    ids = sorted(v.id for v in expand(m)[0])
    assert ids == ["mlp-onnxruntime-fp32-explicit-dyn-b8", "mlp-onnxruntime-fp32-explicit-dyn-b8-c4",
                   "mlp-onnxruntime-fp32-explicit-dyn-b8-c4-r200", "mlp-onnxruntime-fp32-explicit-dyn-b8-r200"]
    budget = Matrix((ModelSource("mlp"),), ("onnxruntime",), (2,), build_modes=("implicit",), concurrencies=(4,),
                    latency_budget_ms=2.5)
    (v,), _ = expand(budget)
    assert v.id == "mlp-onnxruntime-fp32-implicit-b2-c4-budget2.5ms" and v.under_load
    assert Variant.from_dict(v.to_dict()) == v
    old = v.to_dict()
    del old["latency_budget_ms"], old["concurrency"], old["request_rate"]  # a record written before these existed
    assert Variant.from_dict(old).id == "mlp-onnxruntime-fp32-implicit-b2" and not Variant.from_dict(old).under_load


def _plugin_args():
    """``-p trtbench.pytest.plugin`` where trtbench is not installed (so its pytest11 entry point is absent)."""
    from importlib.metadata import entry_points

    eps = entry_points()
    group = eps.select(group="pytest11") if hasattr(eps, "select") else eps.get("pytest11", [])
    return [] if any(ep.value.startswith("trtbench") for ep in group) else ["-p", "trtbench.pytest.plugin"]


def test_pytest_plugin_parametrizes_with_the_load_axes(pytester):
    pytester.makefile(".toml", matrix="[matrix]\nmodels = [\"mlp\"]\nbackends = [\"onnxruntime\"]\nbatches = [1]\n"
                                      "build_modes = [\"implicit\"]\n")
    pytester.makepyfile(test_bench="def test_variant(trtbench_variant):\n    pass\n")
    res = pytester.runpytest_inprocess(*_plugin_args(), "-p", "no:cacheprovider", "--collect-only", "-q",
                                       "--trtbench-concurrency",
                                       "1,4", "--trtbench-request-rate", "50")
    ids = sorted(ln.split("[", 1)[1].rstrip("]") for ln in res.outlines if "test_variant[" in ln)
    assert ids == ["mlp-onnxruntime-fp32-implicit-b1-c4-r50", "mlp-onnxruntime-fp32-implicit-b1-r50"]
    bad = pytester.runpytest_inprocess(*_plugin_args(), "-p", "no:cacheprovider", "--trtbench-concurrency", "0")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    assert any("bad --concurrency value '0'" in ln for ln in bad.errlines + bad.outlines)


def test_pytest_plugin_measures_a_variant_under_load(pytester):
    pytester.makefile(".toml", matrix="[matrix]\nmodels = [\"mlp\"]\nbackends = [\"onnxruntime\"]\nbatches = [1]\n"
                                      "build_modes = [\"implicit\"]\n[run]\nduration_s = 0.05\nwarmup_ms = 5\n"
                                      "iterations = 5\ntrials = 2\nisolation = \"inline\"\n")
    pytester.makepyfile(test_bench="def test_variant(trtbench_variant, benchmark, trtbench_suite):\n"
                                   "    trtbench_suite.measure(trtbench_variant, benchmark)\n")
    out = pytester.path / "out.json"
    res = pytester.runpytest_inprocess(*_plugin_args(), "-p", "no:cacheprovider", "--benchmark-json", str(out),
                                       "--trtbench-results", str(pytester.path / "res"), "--trtbench-concurrency", "2",
                                       "--trtbench-request-rate", "300")
    res.assert_outcomes(passed=1)
    (b,) = json.loads(out.read_text())["benchmarks"]
    info = b["extra_info"]
    assert b["param"] == "mlp-onnxruntime-fp32-implicit-b1-c2-r300" and {"response", "queue"} <= set(info["headlines"])
    assert info["trials"][0]["samples"]["load"]["loop"] == "open" and info["timing"]["mode"] == "load-open"
    assert b["stats"]["rounds"] == sum(t["samples"]["queries"] for t in info["trials"])  # every response time


# ---- 4. TensorRT: profile sharing at build, one context per slot (named doubles) -----------------------------

V86 = ("FP16", "INT8", "TF32", "REFIT", "VERSION_COMPATIBLE", "FP8")


def _api(version: str) -> TrtApi:
    trt = recording_tensorrt(version, V86)
    trt.PreviewFeature = enum.IntEnum("PreviewFeature", {"FASTER_DYNAMIC_SHAPES_0805": 0, "PROFILE_SHARING_0806": 1})
    trt.Config.set_preview_feature = lambda self, f, on: trt.calls.append(("set_preview_feature", f.name, on))
    return TrtApi(trt, parse_version(version), False)


def _spec(sharing: bool) -> BuildSpec:
    return BuildSpec("fp32", "weak", static=False, profile=(("input", (1, 3, 32, 32), (8, 3, 32, 32), (8, 3, 32, 32)),),
                     profile_sharing=sharing)


def test_profile_sharing_is_set_by_name_on_86_and_needs_nothing_from_10():
    for version, expect in (("8.6.0", [("set_preview_feature", "PROFILE_SHARING_0806", True)]), ("10.13.0", [])):
        api = _api(version)
        net, cfg = api.trt.Network([("input", (-1, 3, 32, 32))], [("logits", (-1, 10))]), api.trt.Config()
        applied = configure_build(api, api.trt.BuilderDouble(), net, cfg, _spec(True), {})
        assert [c for c in api.trt.calls if c[0] == "set_preview_feature"] == expect
        assert applied["profile_sharing"] == ("PreviewFeature.PROFILE_SHARING_0806" if expect else
                                              "always allowed (TensorRT 10+)")
    plain = TrtApi(recording_tensorrt("8.6.0", V86), (8, 6, 0), False)  # bindings without the preview feature
    with pytest.raises(TensorRTError, match="no PreviewFeature.PROFILE_SHARING_0806"):
        configure_build(plain, plain.trt.BuilderDouble(), plain.trt.Network([("input", (-1, 3, 32, 32))], [("y", (-1, 2))]),
                        plain.trt.Config(), _spec(True), {})


def test_profile_sharing_is_in_the_cache_key_only_when_on():
    off, on = _spec(False).key(), _spec(True).key()
    assert "profile_sharing" not in off and '"profile_sharing": true' in on and off != on


class _Ctx:
    """A double of an execution context: records what the slot binding does."""

    def __init__(self, share_ok: bool = True) -> None:
        self.share_ok, self.shapes, self.addresses, self.profile = share_ok, {}, {}, None

    def set_optimization_profile_async(self, index, stream):
        self.profile = index
        return self.share_ok

    def set_input_shape(self, name, shape):
        self.shapes[name] = tuple(shape)
        return True

    def get_tensor_shape(self, name):
        return (self.shapes["input"][0], 10)

    def infer_shapes(self):
        return []

    def set_tensor_address(self, name, ptr):
        self.addresses[name] = ptr
        return True

    def execute_async_v3(self, stream):
        return True


def _trt_backend(share_ok: bool):
    dtype = type("DataType", (), {"__str__": lambda self: "DataType.FLOAT"})()  # read by name, as the real one
    io = EngineIO([("input", dtype, (-1, 3, 4))], [("logits", dtype)], {"input": (8, 3, 4)}, {"input": (2, 3, 4)},
                  {"input": np.ones((2, 3, 4), np.float32)}, dynamic=True)
    engine = types.SimpleNamespace(create_execution_context=lambda: _Ctx(share_ok))
    stream = types.SimpleNamespace(handle=0, synchronize=lambda: None)
    return types.SimpleNamespace(api=TrtApi(recording_tensorrt("8.6.0", V86), (8, 6, 0), False), engine=engine,
                                 _io=io, context=_Ctx(), _setup_stream=stream, buffer_class=lambda: HostBuffers)


def test_each_slot_binds_its_own_context_and_buffers_and_a_refused_profile_names_the_fix():
    be = _trt_backend(share_ok=True)
    s0, s1 = engine_slot(be, 0), engine_slot(be, 1)
    try:
        assert s0.context is be.context and s1.context is not be.context and s1.context.profile == 0
        assert be._io.max_out == {"logits": (8, 10)}  # output buffers sized at the profile maximum, once
        assert s1.context.shapes == {"input": (2, 3, 4)} and s1.buffers.outputs["logits"].shape == (2, 10)
        assert s0.context.addresses["input"] != s1.context.addresses["input"]
        assert s1.context.addresses["input"] == s1.buffers.inputs["input"].device.ptr
    finally:
        s0.release()
        s1.release()
    refused = _trt_backend(share_ok=False)
    engine_slot(refused, 0).release()
    with pytest.raises(TensorRTError, match="PROFILE_SHARING_0806"):
        engine_slot(refused, 1)
