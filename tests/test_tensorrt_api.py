"""Our runtime-side TensorRT calls against the REAL TensorRT 11.4 lean runtime bindings from PyPI
(``tensorrt-lean-cu13-bindings``). Skipped, with the reason, where that wheel is not installed."""

import ast
from pathlib import Path

import pytest

trt = pytest.importorskip("tensorrt_lean_bindings", reason="tensorrt-lean-cu13-bindings is not installed")


def test_lean_bindings_are_recognised_as_a_supported_lean_runtime():
    from trtbench.backends.tensorrt.compat import load_trt, unsupported_reason

    a = load_trt()
    assert a.lean or a.trt.__name__ == "tensorrt"  # full TensorRT wins when both are installed
    assert unsupported_reason(tuple(int(x) for x in trt.__version__.split(".")[:2])) is None


ROOT = Path(__file__).resolve().parents[1]
#: the modules whose TensorRT calls run with a plan: the backend, the plan loader, layers, compat (and the load
#: timer, which drives the backend's slots: it calls no TensorRT API itself today, and would be read if it did)
TRT_FILES = sorted((ROOT / "trtbench" / "backends" / "tensorrt").glob("*.py")) + [ROOT / "trtbench" / "gpu" /
                                                                                  "load_timer.py"]
#: the names the code gives TensorRT objects -> the class in the bindings
RECEIVERS = {"engine": "ICudaEngine", "context": "IExecutionContext", "ctx": "IExecutionContext",
             "runtime": "Runtime", "inspector": "IEngineInspector"}
#: what only the full bindings have (the lean runtime runs prebuilt plans): each is checked, below, to be
#: out of the lean path's reach instead of against the lean bindings
FULL_ONLY = {
    ("trt", "Builder"): "build.py; build_engine refuses a TensorRT without a builder first",
    ("trt", "OnnxParser"): "build.py, after that refusal",
    ("trt", "NetworkDefinitionCreationFlag"): "TrtApi.network_flags, called from build.py only",
    ("IEngineInspector", "execution_context"): "layers.py: the lean module exports no IEngineInspector; the "
                                               "inspector is used in a try that records any failure",
    ("IEngineInspector", "get_engine_information"): "the same try",
}


def _receiver(node):
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None


def _calls():
    """{(class or "trt" or "trt.X", attribute): [(file, line, node, parents)]} for every attribute the code reads,
    calls or sets on a TensorRT object or on the module (``trt.X``, ``api.trt.X``, ``self.trt.X``, ``trt.X.Y``)."""
    found = {}
    for path in TRT_FILES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute):
                continue
            r = _receiver(node.value)
            if r in RECEIVERS:
                key = (RECEIVERS[r], node.attr)
            elif r == "trt":
                key = ("trt", node.attr)
            elif isinstance(node.value, ast.Attribute) and _receiver(node.value.value) == "trt":
                key = (f"trt.{node.value.attr}", node.attr)
            else:
                continue
            found.setdefault(key, []).append((path.name, node.lineno, node, parents))
    return found


def _owner(cls):
    return trt if cls == "trt" else getattr(trt, cls.split(".", 1)[1] if cls.startswith("trt.") else cls, None)


def test_every_tensorrt_call_the_code_makes_exists_in_the_lean_bindings_or_is_full_only():
    calls = _calls()
    assert ("IEngineInspector", "get_engine_information") in calls and ("IExecutionContext", "execute_async_v3") in \
        calls and ("ICudaEngine", "create_engine_inspector") in calls  # the derivation sees the code
    missing = sorted(f"{cls}.{attr} ({', '.join(f'{f}:{n}' for f, n, *_ in calls[(cls, attr)])})"
                     for cls, attr in calls if (cls, attr) not in FULL_ONLY
                     and not (_owner(cls) is not None and hasattr(_owner(cls), attr)))
    assert not missing, f"not in TensorRT {trt.__version__}'s lean bindings: {missing}"
    really_full = [k for k in FULL_ONLY if _owner(k[0]) is not None and hasattr(_owner(k[0]), k[1])]
    assert not really_full, f"the lean bindings have these: drop them from FULL_ONLY {really_full}"
    assert set(FULL_ONLY) <= set(calls), set(FULL_ONLY) - set(calls)  # no stale entry


def _function(node, parents):
    while node in parents and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        node = parents[node]
    return node.name if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else None


def _in_broad_try(node, parents):
    while node in parents:
        parent = parents[node]
        if isinstance(parent, ast.Try) and node in parent.body and any(
                h.type is None or (isinstance(h.type, ast.Name) and h.type.id in ("Exception", "BaseException"))
                for h in parent.handlers):
            return True
        node = parent
    return False


def test_the_full_only_names_are_out_of_the_lean_paths_reach():
    from trtbench.backends.tensorrt.build import build_engine
    from trtbench.backends.tensorrt.compat import TrtApi, TensorRTError, parse_version

    calls = _calls()
    for key in FULL_ONLY:
        for file, line, node, parents in calls[key]:
            where = f"{key[0]}.{key[1]} at {file}:{line}"
            if file == "build.py":
                assert _function(node, parents) in ("build_engine", "configure_build"), where
            elif key == ("trt", "NetworkDefinitionCreationFlag"):
                assert _function(node, parents) == "network_flags", where
            else:
                assert file == "layers.py" and _in_broad_try(node, parents), where
    callers = [p.name for p in sorted((ROOT / "trtbench").rglob("*.py")) if ".network_flags(" in p.read_text()]
    assert callers == ["build.py"], callers
    lean = TrtApi(trt, parse_version(trt.__version__), True)
    with pytest.raises(TensorRTError, match="has no builder"):  # before any builder or parser call
        build_engine(lean, None, None, None)


def test_what_the_code_names_by_string_and_what_tensorrt_calls_back():
    """Names the AST above cannot see: read with getattr/hasattr by string, or methods TensorRT calls on our
    subclasses; and TensorRT 11's removal of weak typing, which compat relies on."""
    assert "device_memory_size_v2" in dir(trt.ICudaEngine)  # compat.device_memory_size, by string
    assert hasattr(trt.IProfiler, "report_layer_time") and hasattr(trt.ILogger, "log")
    assert set(trt.TensorIOMode.__members__) >= {"INPUT", "OUTPUT"}
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
