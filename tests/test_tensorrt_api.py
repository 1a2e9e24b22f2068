"""Our runtime-side TensorRT calls against the REAL TensorRT 11.4 lean runtime bindings from PyPI
(``tensorrt-lean-cu13-bindings``). Skipped, with the reason, where that wheel is not installed."""

import pytest

trt = pytest.importorskip("tensorrt_lean_bindings", reason="tensorrt-lean-cu13-bindings is not installed")


def test_lean_bindings_are_recognised_as_a_supported_lean_runtime():
    from trtbench.backends.tensorrt.compat import load_trt, unsupported_reason

    a = load_trt()
    assert a.lean or a.trt.__name__ == "tensorrt"  # full TensorRT wins when both are installed
    assert unsupported_reason(tuple(int(x) for x in trt.__version__.split(".")[:2])) is None


def test_every_runtime_call_we_make_exists():
    engine = {"num_io_tensors", "get_tensor_name", "get_tensor_mode", "get_tensor_dtype", "get_tensor_shape",
              "get_tensor_profile_shape", "num_optimization_profiles", "create_execution_context",
              "device_memory_size_v2", "create_engine_inspector"}
    context = {"set_optimization_profile_async", "set_input_shape", "infer_shapes", "get_tensor_shape",
               "set_tensor_address", "execute_async_v3", "profiler"}
    assert engine <= set(dir(trt.ICudaEngine)), engine - set(dir(trt.ICudaEngine))
    assert context <= set(dir(trt.IExecutionContext)), context - set(dir(trt.IExecutionContext))
    assert {"deserialize_cuda_engine", "engine_host_code_allowed"} <= set(dir(trt.Runtime))
    assert set(trt.TensorIOMode.__members__) >= {"INPUT", "OUTPUT"}
    assert hasattr(trt, "ILogger") and hasattr(trt.ILogger, "Severity") and hasattr(trt, "IProfiler")
    assert hasattr(trt.IProfiler, "report_layer_time")
    assert "JSON" in trt.LayerInformationFormat.__members__
    # 11.x: weak typing is gone
    assert not any(f in trt.BuilderFlag.__members__ for f in ("FP16", "BF16", "INT8", "FP8"))


def test_our_logger_and_profiler_subclass_the_real_interfaces():
    from trtbench.backends.tensorrt.backend import make_logger
    from trtbench.backends.tensorrt.compat import TrtApi, parse_version
    from trtbench.backends.tensorrt.layers import _profiler_class

    a = TrtApi(trt, parse_version(trt.__version__), True)
    logger = make_logger(a)
    logger.log(trt.ILogger.Severity.ERROR, "boom")
    logger.log(trt.ILogger.Severity.INFO, "chatter")
    assert logger.messages == ["ERROR: boom"]
    prof = _profiler_class(trt)()
    prof.report_layer_time("conv1", 0.5)
    assert prof.times == {"conv1": [0.5]}
    for dt, np_name in ((trt.float32, "float32"), (trt.float16, "float16"), (trt.int32, "int32")):
        assert a.nptype(dt).name == np_name
